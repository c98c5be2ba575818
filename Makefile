# slackserve: the README's commands. `make test` is what CI runs (via .ci/run).
SHELL := /bin/bash
export ONNXRUNTIME_NODE_INSTALL := skip
PYTHON ?= /usr/bin/python3
SUPERNET ?= supernets/fmnist-resnet

# The main job: serve on the embedded queue, replay the bundled MAF-derived trace with a burst over
# gRPC, print the summary; the report (requests.csv, summary.json, perf.csv, report.html) is left
# in reports/demo/.
demo: build
	node bin/slackserve.js demo --out reports/demo

.PHONY: demo all setup install build typecheck lint test unit integration supernet supernet-train supernet-export supernet-branched supernet-evaluate bench-runtime bench-scheduling bench-fidelity bench-serving profile clean help

all: build

help:
	@echo "make install    npm ci (onnxruntime-node's CUDA download skipped)"
	@echo "make test       setup + typecheck + lint + build + all vitest tests (what CI runs)"
	@echo "make setup      Redis on 127.0.0.1:6379 if none answers, chromium (quiet when present)"
	@echo "make supernet   retrain, export and evaluate $(SUPERNET) end to end (~80 min on 2 cores)"
	@echo "make profile    latency profile of the served subnets -> $(SUPERNET)/profiles/"
	@echo "make bench-runtime  runtime benchmarks (JSON with same-run ratios)"
	@echo "make bench-scheduling  simulator speed (1M requests) and the docs/scheduling.md experiments"
	@echo "make bench-fidelity  live vs simulated attainment per policy (measures the serving model first)"
	@echo "make bench-serving  queue hop, served throughput vs compute limit, end-to-end MAF replay (needs Redis)"

node_modules/.package-lock.json: package-lock.json
	npm ci
	@touch $@

install: node_modules/.package-lock.json

# What the tests need beyond npm: Redis (started if none answers) and chromium; quiet when present.
setup:
	@bash scripts/setup.sh

build: install
	npx tsc -p tsconfig.build.json

typecheck: install
	npx tsc --noEmit -p tsconfig.json

lint: install
	npx eslint .

test: setup typecheck lint build
	npx vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json
	@node -e "const r=require('./test-artifacts/vitest.json'); console.log('vitest: ' + r.numPassedTests + ' passed, ' + r.numFailedTests + ' failed, ' + (r.numPendingTests + r.numTodoTests) + ' skipped')"

unit: build
	npx vitest run test/unit

integration: setup build
	npx vitest run test/integration

# --- the supernet: Python (Debian's python3-torch, python3-onnx) trains and exports; Node measures.
# export_branched folds the small *served* subnets, so it runs after evaluate has chosen them.
supernet: supernet-train supernet-export supernet-evaluate supernet-branched profile

# Two cosine cycles: 10 epochs (peak lr 0.15, sandwich with 2 random subnets), then 9 epochs from
# those weights (peak lr 0.06, 1 random subnet) -- the recipe behind the committed checkpoint.
supernet-train:
	mkdir -p $(SUPERNET)/checkpoint/cycle1
	set -o pipefail; $(PYTHON) supernets/train/train.py --out $(SUPERNET)/checkpoint/cycle1 --epochs 10 2>&1 | tee $(SUPERNET)/checkpoint/train-cycle1.log
	set -o pipefail; $(PYTHON) supernets/train/train.py --out $(SUPERNET)/checkpoint --init $(SUPERNET)/checkpoint/cycle1/supernet.pt \
		--epochs 9 --lr 0.06 --random 1 --warmup 100 --seed 1 2>&1 | tee $(SUPERNET)/checkpoint/train-cycle2.log

supernet-export:
	$(PYTHON) supernets/train/export.py --checkpoint $(SUPERNET)/checkpoint/supernet.pt --out $(SUPERNET)

supernet-branched:
	$(PYTHON) supernets/train/export_branched.py --dir $(SUPERNET)

supernet-evaluate: build
	node bin/slackserve.js supernet evaluate --supernet $(SUPERNET)

# The latency profile the scheduler and simulator read (progress lines; ~2 min here).
profile: build
	node bin/slackserve.js profile --supernet $(SUPERNET) --out $(SUPERNET)/profiles/cpu-2core.json

# Runtime benchmarks (JSON on stdout, progress on stderr): encodings vs static graphs, memory in
# fresh processes, subnet switching and staged-vs-whole through the executor.
bench-runtime: build
	npx tsc -p tsconfig.bench.json
	node dist-bench/bench/runtime/latency.js --supernet $(SUPERNET)
	node dist-bench/bench/runtime/memory.js --supernet $(SUPERNET)
	node dist-bench/bench/runtime/executor.js --supernet $(SUPERNET)

# Scheduling benchmarks: simulator speed on 1M requests, then the experiments of docs/scheduling.md
# (tables on stdout, JSON in bench/results/, plots in docs/scheduling/).
bench-scheduling: build
	npx tsc -p tsconfig.bench.json
	node dist-bench/bench/scheduling/sim-speed.js | tee bench/results/sim-speed.json
	node dist-bench/bench/scheduling/experiments.js

# Live against simulated, per policy, on the demo and a bursty trace (measures the serving model
# first; ~6 min; docs/scheduling.md "Live SlackFit and simulator fidelity").
bench-fidelity: build
	npx tsc -p tsconfig.bench.json
	node dist-bench/bench/scheduling/fidelity.js --measure --traces demo,bursty --out bench/results/fidelity-k1.json

# Serving benchmarks (Redis on 127.0.0.1:6379): queue hop, throughput at saturation, end to end.
bench-serving: build
	npx tsc -p tsconfig.bench.json
	node dist-bench/bench/serving/queue-hop.js --reps 3
	node dist-bench/bench/serving/throughput.js --seconds 3 --reps 3
	node dist-bench/bench/serving/e2e-maf.js --images 16 --seconds 30
	node dist-bench/bench/serving/e2e-maf.js --images 1 --seconds 30 --rate-rps 300

clean:
	rm -rf dist dist-bench coverage test-artifacts
