/** The dashboard page: plain HTML + uPlot (loaded from /dashboard/uPlot.iife.min.js), no build step. */
export const DASHBOARD_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>slackserve dashboard</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/uPlot.min.css">
<script src="/dashboard/uPlot.iife.min.js"></script>
<style>
body{font-family:sans-serif;margin:1em 2em;color:#222}h1{font-size:1.3em}.row{display:flex;flex-wrap:wrap;gap:1.5em}
.card{border:1px solid #ddd;border-radius:6px;padding:.5em 1em}table{border-collapse:collapse;font-size:.9em}td,th{padding:2px 8px;text-align:right}td:first-child{text-align:left}
.big{font-size:1.6em;font-weight:bold}
</style></head>
<body>
<h1>slackserve: <span id="model"></span>, policy <span id="policy"></span></h1>
<div class="row">
 <div class="card">SLO attainment (5 s)<div class="big" id="att">-</div></div>
 <div class="card">cumulative<div class="big" id="cum">-</div></div>
 <div class="card">served accuracy (5 s)<div class="big" id="acc">-</div></div>
 <div class="card">throughput req/s<div class="big" id="thr">-</div></div>
 <div class="card">queue (shared / local / in flight)<div class="big" id="queue">-</div></div>
 <div class="card">shed / downgraded / errors (5 s)<div class="big" id="shed">-</div></div>
</div>
<div class="row">
 <div class="card" id="c-lat"></div>
 <div class="card" id="c-mix"></div>
 <div class="card" id="c-acc"></div>
</div>
<div class="row">
 <div class="card" id="c-shed"></div>
 <div class="card" id="c-att"></div>
 <div class="card" id="c-thr"></div>
</div>
<div class="row">
 <div class="card"><b>subnet mix (5 s)</b><table id="subnets"></table></div>
 <div class="card"><b>exit mix (5 s)</b><table id="exits"></table></div>
 <div class="card"><b>SLO classes (cumulative)</b><table id="classes"></table></div>
 <div class="card"><b>exit thresholds per ramp</b><table id="thresholds"></table></div>
 <div class="card"><b>workers</b><table id="workers"></table></div>
</div>
<script>
(function () {
  var N = 240, d = { t: [], att: [], cum: [], thr: [], q: [], acc: [], accMin: [], accMax: [], p50: [], p99: [], slo: [], shed: [], dlx: [], dla: [], err: [], offered: [], mix: [] };
  window.__dashboard = { points: 0, errors: [], charts: 0 };
  function mk(id, title, series, scale) {
    var opts = { title: title, width: 460, height: 220, series: [{}].concat(series.map(function (s) { return { label: s[0], stroke: s[1], width: s[2] && s[2].width || 2, dash: s[2] && s[2].dash, fill: s[2] && s[2].fill, points: { show: false } }; })),
      scales: scale ? { y: scale } : {}, axes: [{}, {}] };
    window.__dashboard.charts++;
    return new uPlot(opts, [[]].concat(series.map(function () { return []; })), document.getElementById(id));
  }
  var cLat = mk('c-lat', 'latency p50 / p99 against the SLO (ms)', [['p50', '#1f77b4'], ['p99', '#d62728'], ['SLO (median budget)', '#000', { dash: [6, 4], width: 1.5 }]]);
  var cAcc = mk('c-acc', 'served accuracy against the Pareto range', [['top-1 of serving subnet', '#9467bd'], ['least accurate subnet', '#999', { dash: [4, 4], width: 1 }], ['most accurate subnet', '#555', { dash: [4, 4], width: 1 }]]);
  var cShed = mk('c-shed', 'shed and deadline answers (/s, 5 s)', [['shed', '#d62728'], ['deadline exceeded', '#ff7f0e'], ['deadline answers', '#2ca02c'], ['cancelled and other errors', '#7f7f7f']]);
  var cAtt = mk('c-att', 'SLO attainment', [['rolling 5 s', '#1f77b4'], ['cumulative', '#d62728']], { range: [0, 1] });
  var cThr = mk('c-thr', 'throughput and queue depth', [['req/s', '#2ca02c'], ['queued', '#ff7f0e']]);
  var cMix = null, mixIds = [];
  // subnet mix over time: one stacked layer per served subnet (fastest at the bottom, answered
  // req/s), under the offered load (every finished call, answered or not); the top layer is
  // drawn first and each lower one over it, so opaque fills stack
  function mkMix(ids) {
    mixIds = ids.slice();
    var layers = [];
    for (var i = ids.length - 1; i >= 0; i--) {
      var c = 'hsl(' + Math.round(240 * i / Math.max(1, ids.length - 1)) + ',65%,60%)';
      layers.push([ids[i], c, { fill: c, width: 1 }]);
    }
    layers.push(['offered load', '#000', { width: 2 }]);
    cMix = mk('c-mix', 'subnet mix (answered req/s) under the offered load', layers);
    // the layers start now: earlier points have none (every series is as long as the time axis)
    d.mix = ids.map(function () { return d.t.slice(0, -1).map(function () { return null; }); });
  }
  function push(k, v) { d[k].push(v); if (d[k].length > N) d[k].shift(); }
  function pushMix(i, v) { d.mix[i].push(v); if (d.mix[i].length > N) d.mix[i].shift(); }
  function pct(v) { return v === null || v === undefined ? '-' : (100 * v).toFixed(2) + '%'; }
  function rows(el, obj, fmt) {
    var h = ''; Object.keys(obj).sort().forEach(function (k) { h += '<tr><td>' + k + '</td><td>' + fmt(obj[k]) + '</td></tr>'; });
    document.getElementById(el).innerHTML = h || '<tr><td>-</td></tr>';
  }
  var es = new EventSource('/dashboard/events');
  es.onmessage = function (ev) {
    var s = JSON.parse(ev.data);
    document.getElementById('model').textContent = s.model;
    document.getElementById('policy').textContent = s.policy;
    document.getElementById('att').textContent = pct(s.rolling.attainment);
    document.getElementById('cum').textContent = pct(s.cumulative.attainment);
    document.getElementById('acc').textContent = pct(s.rolling.accuracy);
    document.getElementById('thr').textContent = s.rolling.throughput.toFixed(1);
    document.getElementById('queue').textContent = s.queue.shared + ' / ' + (s.queue.local === null ? '-' : s.queue.local) + ' / ' + (s.queue.inFlight === null ? '-' : s.queue.inFlight);
    document.getElementById('shed').textContent = s.rolling.shed + ' / ' + s.rolling.downgraded + ' / ' + s.rolling.errors;
    var r = s.rolling, w = 5;
    push('t', s.t / 1000); push('att', r.attainment); push('cum', s.cumulative.attainment);
    push('thr', r.throughput); push('q', s.queue.shared + (s.queue.local || 0)); push('acc', r.accuracy);
    push('accMin', s.accuracyRange ? s.accuracyRange.min : null); push('accMax', s.accuracyRange ? s.accuracyRange.max : null);
    push('p50', r.latencyP50); push('p99', r.latencyP99); push('slo', r.sloMs);
    push('shed', r.shed / w); push('dlx', r.deadlineExceeded / w); push('dla', r.deadlineAnswers / w); push('err', r.errors / w);
    push('offered', r.throughput);
    cAtt.setData([d.t, d.att, d.cum]); cThr.setData([d.t, d.thr, d.q]); cAcc.setData([d.t, d.acc, d.accMin, d.accMax]);
    cLat.setData([d.t, d.p50, d.p99, d.slo]); cShed.setData([d.t, d.shed, d.dlx, d.dla, d.err]);
    if (!cMix && s.subnets && s.subnets.length > 0) mkMix(s.subnets);
    if (cMix) {
      var cum = 0, stacked = [];
      mixIds.forEach(function (id, i) { cum += (s.subnetMix[id] || 0) * r.answered; pushMix(i, cum); stacked.push(d.mix[i]); });
      cMix.setData([d.t].concat(stacked.reverse()).concat([d.offered]));
    }
    window.__dashboard.last = r; window.__dashboard.range = s.accuracyRange;
    rows('subnets', s.subnetMix, pct); rows('exits', s.exitMix, pct);
    var cl = {}; Object.keys(s.cumulative.byClass).forEach(function (k) { var c = s.cumulative.byClass[k]; cl[k] = pct(c.attainment) + ' of ' + c.total; });
    rows('classes', cl, function (v) { return v; });
    var th = {}; (s.exits || []).forEach(function (x) { Object.keys(x.thresholds).forEach(function (st) { if (x.thresholds[st] > 0) th[x.subnet + ' ' + st] = x.thresholds[st].toFixed(3); }); });
    rows('thresholds', th, function (v) { return v; });
    var w = {}; (s.workers || []).forEach(function (x, i) { w['worker ' + i] = x.batches + ' batches, ' + x.answered + ' answered, ' + x.reclaimed + ' reclaimed'; });
    rows('workers', w, function (v) { return v; });
    window.__dashboard.points = d.t.length;
  };
  es.onerror = function () { window.__dashboard.errors.push('event stream error'); };
})();
</script>
</body></html>
`;
