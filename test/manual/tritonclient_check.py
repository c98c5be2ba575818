#!/usr/bin/env python3
"""Triton's own Python client (tritonclient) against a running slackserve, by hand.

Not part of `make test` (it needs tritonclient, which is not vendored): see docs/api.md,
"Checking with Triton's client". Usage:

    PYTHONPATH=<dir holding tritonclient> python3 test/manual/tritonclient_check.py HOST:HTTP_PORT HOST:GRPC_PORT

Prints one line per check and a summary; exits 1 if any check failed.
"""
import gzip  # noqa: F401  (tritonclient imports it for compression)
import queue
import sys
import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

HTTP, GRPC = sys.argv[1], sys.argv[2]
MODEL = "fmnist-resnet"
results = []


def check(name, fn):
    try:
        fn()
        results.append((name, True, ""))
        print(f"ok    {name}")
    except Exception as e:  # noqa: BLE001
        results.append((name, False, repr(e)))
        print(f"FAIL  {name}: {e!r}")


def expect(cond, msg="expectation failed"):
    if not cond:
        raise AssertionError(msg)


rng = np.random.default_rng(0)
images = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)

for proto, mod, url in (("http", httpclient, HTTP), ("grpc", grpcclient, GRPC)):
    c = mod.InferenceServerClient(url=url)
    as_json = {"as_json": True} if proto == "grpc" else {}

    check(f"{proto} is_server_live", lambda: expect(c.is_server_live()))
    check(f"{proto} is_server_ready", lambda: expect(c.is_server_ready()))
    check(f"{proto} is_model_ready", lambda: expect(c.is_model_ready(MODEL)))
    check(f"{proto} get_server_metadata", lambda: expect("classification" in c.get_server_metadata(**as_json)["extensions"]))
    check(f"{proto} get_model_metadata", lambda: expect(c.get_model_metadata(MODEL, **as_json)["inputs"][0]["name"] == "image"))

    def config():
        cfg = c.get_model_config(MODEL, **as_json)
        cfg = cfg.get("config", cfg)
        expect(int(cfg["max_batch_size"]) == 64, cfg["max_batch_size"])
        expect([int(d) for d in cfg["input"][0]["dims"]] == [1, 28, 28], cfg["input"][0])
        expect("dynamic_batching" in cfg)
        expect("slackserve.subnets" in cfg["parameters"])

    check(f"{proto} get_model_config", config)

    def index():
        idx = c.get_model_repository_index(**as_json)
        models = idx.get("models", idx) if isinstance(idx, dict) else idx
        expect(models[0]["name"] == MODEL and models[0]["state"] == "READY", models)

    check(f"{proto} get_model_repository_index", index)

    def load_refused():
        try:
            c.load_model(MODEL)
        except InferenceServerException as e:
            expect("not supported" in e.message(), e.message())
            return
        raise AssertionError("load_model succeeded")

    check(f"{proto} load_model refused with a reason", load_refused)

    def infer_default():
        inp = mod.InferInput("image", list(images.shape), "FP32")
        inp.set_data_from_numpy(images)
        r = c.infer(MODEL, [inp], request_id="r1")
        logits = r.as_numpy("logits")
        expect(logits.shape == (4, 10), logits.shape)
        expect((r.as_numpy("class") == logits.argmax(1)).all())
        expect(r.get_response(**as_json)["id"] == "r1")

    check(f"{proto} infer with client defaults", infer_default)

    def infer_outputs():
        inp = mod.InferInput("image", [2, 1, 28, 28], "FP32")
        inp.set_data_from_numpy(images[:2])
        r = c.infer(MODEL, [inp], outputs=[mod.InferRequestedOutput("logits")])
        expect(r.as_numpy("logits").shape == (2, 10))
        expect(r.as_numpy("class") is None)

    check(f"{proto} infer with requested outputs", infer_outputs)

    def classification():
        inp = mod.InferInput("image", [2, 1, 28, 28], "FP32")
        inp.set_data_from_numpy(images[:2])
        r = c.infer(MODEL, [inp], outputs=[mod.InferRequestedOutput("logits", class_count=3)])
        cls = r.as_numpy("logits")
        expect(cls.shape == (2, 3), cls.shape)
        score, index, label = cls[0][0].decode().split(":", 2)
        expect(0 <= int(index) < 10 and label != "" and float(score) == float(score))

    check(f"{proto} classification class_count=3", classification)

    def stats():
        s = c.get_inference_statistics(MODEL, **as_json)
        st = s["model_stats"][0]
        expect(int(st["inference_stats"]["success"]["count"]) > 0, st)

    check(f"{proto} get_inference_statistics", stats)

    def bad_shape():
        inp = mod.InferInput("image", [1, 28, 28], "FP32")
        inp.set_data_from_numpy(images[0])
        try:
            c.infer(MODEL, [inp])
        except InferenceServerException as e:
            expect("does not match" in e.message(), e.message())
            return
        raise AssertionError("accepted")

    check(f"{proto} bad shape -> readable error", bad_shape)

    def timeout_param():
        inp = mod.InferInput("image", [1, 1, 28, 28], "FP32")
        inp.set_data_from_numpy(images[:1])
        r = c.infer(MODEL, [inp], timeout=5_000_000, priority=1)
        expect(r.as_numpy("logits").shape == (1, 10))

    check(f"{proto} timeout/priority", timeout_param)

c = httpclient.InferenceServerClient(url=HTTP)


def gzip_request():
    inp = httpclient.InferInput("image", [1, 1, 28, 28], "FP32")
    inp.set_data_from_numpy(images[:1])
    r = c.infer(MODEL, [inp], request_compression_algorithm="gzip")
    expect(r.as_numpy("logits").shape == (1, 10))


check("http request compression gzip", gzip_request)


def json_only():
    inp = httpclient.InferInput("image", [1, 1, 28, 28], "FP32")
    inp.set_data_from_numpy(images[:1], binary_data=False)
    outs = [httpclient.InferRequestedOutput("logits", binary_data=False)]
    # all-JSON requests from tritonclient carry no Content-Type: refused 415 with the reason
    # (docs/api.md: a browser could send such a request without a CORS preflight) ...
    try:
        c.infer(MODEL, [inp], outputs=outs)
        raise AssertionError("accepted without a content type")
    except InferenceServerException as e:
        expect("content type" in (e.message() or ""), e.message())
    # ... and served with the header added
    r = c.infer(MODEL, [inp], outputs=outs, headers={"Content-Type": "application/json"})
    expect(r.as_numpy("logits").shape == (1, 10))


check("http JSON-only (binary_data=False everywhere): 415 unless Content-Type is set", json_only)


def too_large():
    big = np.zeros((4096, 1, 28, 28), np.float32)  # 12.8 MB, over the 8 MiB default limit
    inp = httpclient.InferInput("image", list(big.shape), "FP32")
    inp.set_data_from_numpy(big)
    try:
        c.infer(MODEL, [inp])
    except InferenceServerException as e:
        expect("exceeds the limit" in e.message(), e.message())
        return
    raise AssertionError("accepted")


check("http oversized body -> readable 413", too_large)

g = grpcclient.InferenceServerClient(url=GRPC)


def stream_final():
    q = queue.Queue()
    g.start_stream(callback=lambda result, error: q.put((result, error)))
    inp = grpcclient.InferInput("image", [1, 1, 28, 28], "FP32")
    inp.set_data_from_numpy(images[:1])
    g.async_stream_infer(MODEL, [inp], request_id="s1", enable_empty_final_response=True)
    bad = grpcclient.InferInput("image", [1, 28, 28], "FP32")
    bad.set_data_from_numpy(images[0])
    g.async_stream_infer(MODEL, [bad], request_id="s2")
    finals, errors = 0, []
    for _ in range(2):
        while True:
            result, error = q.get(timeout=10)
            if error is not None:
                errors.append(str(error))
                break
            p = result.get_response().parameters
            if p["triton_final_response"].bool_param:
                finals += 1
                break
    g.stop_stream()
    expect(finals == 1, finals)
    expect(len(errors) == 1 and "s2" in errors[0], errors)


check("grpc stream: triton_final_response, error names the request id", stream_final)


def deadline():
    inp = grpcclient.InferInput("image", [64, 1, 28, 28], "FP32")
    inp.set_data_from_numpy(np.zeros((64, 1, 28, 28), np.float32))
    try:
        g.infer(MODEL, [inp], client_timeout=0.001)
    except InferenceServerException as e:
        expect(e.status() in ("StatusCode.DEADLINE_EXCEEDED", "StatusCode.UNAVAILABLE"), e.status())
        if e.status() == "StatusCode.UNAVAILABLE":
            expect("shed" in e.message(), e.message())
        return


check("grpc tight client_timeout -> DEADLINE_EXCEEDED (or a shed message)", deadline)

failed = [r for r in results if not r[1]]
print(f"\n{len(results) - len(failed)} of {len(results)} checks passed")
sys.exit(1 if failed else 0)
