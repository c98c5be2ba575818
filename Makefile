# slackserve: the README's commands. `make test` is what CI runs (via .ci/run).
SHELL := /bin/bash
export ONNXRUNTIME_NODE_INSTALL := skip
PYTHON ?= /usr/bin/python3
SUPERNET ?= supernets/fmnist-resnet
EPOCHS ?= 10

.PHONY: all install build typecheck lint test unit integration supernet supernet-train supernet-export supernet-evaluate clean help

all: build

help:
	@echo "make install    npm ci (onnxruntime-node's CUDA download skipped)"
	@echo "make test       typecheck + lint + build + all vitest tests (what CI runs)"
	@echo "make supernet   retrain, export and evaluate $(SUPERNET) end to end (~50 min on 2 cores)"

node_modules/.package-lock.json: package-lock.json
	npm ci
	@touch $@

install: node_modules/.package-lock.json

build: install
	npx tsc -p tsconfig.build.json

typecheck: install
	npx tsc --noEmit -p tsconfig.json

lint: install
	npx eslint .

test: typecheck lint build
	npx vitest run

unit: build
	npx vitest run test/unit

integration: build
	npx vitest run test/integration

# --- the supernet: Python (Debian's python3-torch, python3-onnx) trains and exports; Node measures.
supernet: supernet-train supernet-export supernet-evaluate

supernet-train:
	mkdir -p $(SUPERNET)/checkpoint
	$(PYTHON) supernets/train/train.py --out $(SUPERNET)/checkpoint --epochs $(EPOCHS) 2>&1 | tee $(SUPERNET)/checkpoint/train.log

supernet-export:
	$(PYTHON) supernets/train/export.py --checkpoint $(SUPERNET)/checkpoint/supernet.pt --out $(SUPERNET)

supernet-evaluate: build
	node bin/slackserve.js supernet evaluate --supernet $(SUPERNET)

clean:
	rm -rf dist coverage test-artifacts
