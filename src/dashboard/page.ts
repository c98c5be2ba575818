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
 <div class="card" id="c-att"></div>
 <div class="card" id="c-thr"></div>
 <div class="card" id="c-acc"></div>
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
  var N = 240, d = { t: [], att: [], cum: [], thr: [], q: [], acc: [] };
  window.__dashboard = { points: 0, errors: [] };
  function mk(id, title, series, scale) {
    var opts = { title: title, width: 460, height: 220, series: [{}].concat(series.map(function (s) { return { label: s[0], stroke: s[1], width: 2 }; })),
      scales: scale ? { y: scale } : {}, axes: [{}, {}] };
    return new uPlot(opts, [[]].concat(series.map(function () { return []; })), document.getElementById(id));
  }
  var cAtt = mk('c-att', 'SLO attainment', [['rolling 5 s', '#1f77b4'], ['cumulative', '#d62728']], { range: [0, 1] });
  var cThr = mk('c-thr', 'throughput and queue depth', [['req/s', '#2ca02c'], ['queued', '#ff7f0e']]);
  var cAcc = mk('c-acc', 'served accuracy', [['top-1 of serving subnet', '#9467bd']]);
  function push(k, v) { d[k].push(v); if (d[k].length > N) d[k].shift(); }
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
    push('t', s.t / 1000); push('att', s.rolling.attainment); push('cum', s.cumulative.attainment);
    push('thr', s.rolling.throughput); push('q', s.queue.shared + (s.queue.local || 0)); push('acc', s.rolling.accuracy);
    cAtt.setData([d.t, d.att, d.cum]); cThr.setData([d.t, d.thr, d.q]); cAcc.setData([d.t, d.acc]);
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
