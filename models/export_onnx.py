#!/usr/bin/env python3
"""Export an official DDColor checkpoint to ONNX following the ddcolor contract.

The contract the ``ddcolor`` tool expects:

* one input named ``input``: float32 ``[N, 3, S, S]``, a grey RGB image in
  [0, 1] (R = G = B).  ImageNet mean/std normalisation happens inside the
  graph (DDColor's own ``forward`` does it for 3-channel input);
* one output named ``output``: float32 ``[N, 2, S, S]``, the Lab a/b channels
  on OpenCV's float scale (roughly -128..127);
* S a multiple of 32 (256 or 512 in practice).

Requirements (not needed by the rest of this project): Python 3.8+, PyTorch,
the official DDColor code (https://github.com/piddnad/DDColor, Apache-2.0;
either its ``ddcolor`` package or its ``basicsr`` package must be importable,
e.g. run from a checkout or pass ``--ddcolor-repo``), plus
``huggingface_hub`` to download by HuggingFace id, ``modelscope`` to download
by ModelScope id, and optionally ``onnx``/``onnxruntime`` (for ``--verify``)
and ``onnxsim`` (for ``--simplify``).

Examples
--------
    # download piddnad/ddcolor_modelscope from HuggingFace, export at 512
    python models/export_onnx.py --variant modelscope

    # the tiny model at 256, from a local checkpoint
    python models/export_onnx.py --variant paper_tiny --size 256 \\
        --checkpoint ~/ddcolor/pretrain/ddcolor_paper_tiny.pth \\
        --output models/ddcolor_paper_tiny_256.onnx

    # ModelScope id (needs `pip install modelscope`), dynamic batch axis
    python models/export_onnx.py --variant modelscope \\
        --checkpoint damo/cv_ddcolor_image-colorization --dynamic-batch

This script was written from the official repository's
``scripts/export_onnx.py`` / ``export.py``, ``ddcolor/model.py`` and
``inference/colorization_pipeline_hf.py``; it could not be run where it was
written (no torch, no network), so please report problems.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# variant -> (encoder_name, HuggingFace repo id)
VARIANTS = {
    "paper": ("convnext-l", "piddnad/ddcolor_paper"),
    "modelscope": ("convnext-l", "piddnad/ddcolor_modelscope"),
    "artistic": ("convnext-l", "piddnad/ddcolor_artistic"),
    "paper_tiny": ("convnext-t", "piddnad/ddcolor_paper_tiny"),
}
MODELSCOPE_ID = "damo/cv_ddcolor_image-colorization"  # the modelscope variant


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__[__doc__.index("The contract"):],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="modelscope",
                    help="which DDColor model (default: modelscope); picks the encoder "
                         "(convnext-l, or convnext-t for paper_tiny) and the default download")
    ap.add_argument("--checkpoint", metavar="PATH_OR_ID",
                    help="a local checkpoint (.pth/.pt/pytorch_model.bin/.safetensors, raw "
                         "state_dict or {'params': state_dict}), a local HuggingFace snapshot "
                         "directory, a HuggingFace repo id (e.g. piddnad/ddcolor_modelscope) or "
                         f"a ModelScope id ({MODELSCOPE_ID}). Default: the variant's "
                         "HuggingFace repo")
    ap.add_argument("--hub", choices=["auto", "huggingface", "modelscope"], default="auto",
                    help="where a repo id is downloaded from (auto: ModelScope for damo/* ids)")
    ap.add_argument("--encoder", choices=["convnext-l", "convnext-t"],
                    help="override the encoder implied by --variant")
    ap.add_argument("--size", type=int, default=512,
                    help="input size S (multiple of 32, default 512; 256 is the training size)")
    ap.add_argument("--output", "-o",
                    help="output .onnx path (default: models/ddcolor_<variant>.onnx)")
    ap.add_argument("--dynamic-batch", action="store_true",
                    help="make the batch axis dynamic ('batch')")
    ap.add_argument("--dynamic-hw", action="store_true",
                    help="EXPERIMENTAL: make height/width dynamic ('height','width'); "
                         "check the verification output before relying on it")
    ap.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    ap.add_argument("--ddcolor-repo", metavar="DIR",
                    help="path of a DDColor checkout to import the model code from")
    ap.add_argument("--strict", action="store_true",
                    help="fail if the checkpoint does not match the model exactly")
    ap.add_argument("--simplify", action="store_true", help="run onnxsim on the result")
    ap.add_argument("--no-verify", dest="verify", action="store_false",
                    help="skip comparing onnxruntime against PyTorch on a grey test image "
                         "(the check runs by default when onnxruntime is installed)")
    args = ap.parse_args(argv)
    if args.size <= 0 or args.size % 32:
        ap.error("--size must be a positive multiple of 32")
    if args.output is None:
        args.output = os.path.join(HERE, f"ddcolor_{args.variant}.onnx")
    return args


# ---------------------------------------------------------------------------
# Model code and weights
# ---------------------------------------------------------------------------
def import_ddcolor(repo_dir):
    if repo_dir:
        sys.path.insert(0, os.path.abspath(os.path.expanduser(repo_dir)))
    else:
        sys.path.insert(0, os.getcwd())
    errors = []
    # Newer layout of the official repo: the `ddcolor` package.
    try:
        from ddcolor import DDColor  # type: ignore
        return DDColor
    except Exception as e:  # noqa: BLE001
        errors.append(f"ddcolor: {e}")
    # Original layout: basicsr/archs/ddcolor_arch.py
    try:
        from basicsr.archs.ddcolor_arch import DDColor  # type: ignore
        return DDColor
    except Exception as e:  # noqa: BLE001
        errors.append(f"basicsr.archs.ddcolor_arch: {e}")
    sys.exit("cannot import DDColor from the official code (" + "; ".join(errors) + ").\n"
             "Clone https://github.com/piddnad/DDColor, install its requirements, and run "
             "from the checkout or pass --ddcolor-repo /path/to/DDColor.")


def read_state_dict(path):
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(path, device="cpu")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        ckpt = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001  (pickled non-tensor objects)
        print(f"note: weights_only load failed ({e.__class__.__name__}); loading with full "
              "unpickling - only do this with checkpoints you trust", file=sys.stderr)
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(ckpt, dict):
        for key in ("params", "params_ema", "state_dict", "model"):
            if key in ckpt and isinstance(ckpt[key], dict):
                return ckpt[key]
    return ckpt


def find_weights_in_dir(d):
    for name in ("model.safetensors", "pytorch_model.bin", "pytorch_model.pt", "pytorch_model.pth"):
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    cands = sorted(f for f in os.listdir(d) if f.endswith((".pth", ".pt", ".bin", ".safetensors")))
    if cands:
        return os.path.join(d, cands[0])
    sys.exit(f"no checkpoint file found in {d}")


def read_config(d):
    p = os.path.join(d, "config.json")
    if os.path.isfile(p):
        with open(p, encoding="utf-8") as f:
            return json.load(f)
    return {}


def fetch_checkpoint(args):
    """Return (weights path, config dict) for --checkpoint / --variant."""
    src = args.checkpoint or VARIANTS[args.variant][1]
    src_exp = os.path.expanduser(src)
    if os.path.isfile(src_exp):
        return src_exp, read_config(os.path.dirname(os.path.abspath(src_exp)))
    if os.path.isdir(src_exp):
        return find_weights_in_dir(src_exp), read_config(src_exp)
    if "/" not in src:
        sys.exit(f"--checkpoint {src!r} is neither a file, a directory nor a repo id")

    hub = args.hub
    if hub == "auto":
        hub = "modelscope" if src.startswith("damo/") else "huggingface"
    if hub == "modelscope":
        try:
            from modelscope.hub.snapshot_download import snapshot_download
        except ImportError:
            sys.exit("downloading from ModelScope needs `pip install modelscope`")
        d = snapshot_download(src)
        return find_weights_in_dir(d), read_config(d)

    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        sys.exit("downloading from HuggingFace needs `pip install huggingface_hub`")
    config = {}
    try:
        with open(hf_hub_download(src, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except Exception as e:  # noqa: BLE001
        print(f"note: no config.json in {src} ({e.__class__.__name__})", file=sys.stderr)
    last = None
    for name in ("model.safetensors", "pytorch_model.bin"):
        try:
            return hf_hub_download(src, name), config
        except Exception as e:  # noqa: BLE001  (EntryNotFoundError moved between versions)
            last = e
    sys.exit(f"could not download weights from HuggingFace {src}: {last}")


def build_model(DDColor, encoder_name, size, state_dict, strict):
    import torch

    model = DDColor(
        encoder_name=encoder_name,
        decoder_name="MultiScaleColorDecoder",
        input_size=[size, size],
        num_output_channels=2,
        last_norm="Spectral",
        do_normalize=False,
        num_queries=100,
        num_scales=3,
        dec_layers=9,
    )
    # The HuggingFace mixin sometimes prefixes keys with "model."/"module.".
    for prefix in ("module.", "model."):
        if state_dict and all(k.startswith(prefix) for k in state_dict):
            state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
    result = model.load_state_dict(state_dict, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith(("num_batches_tracked",))]
    if missing or result.unexpected_keys:
        msg = (f"checkpoint/model mismatch: {len(missing)} missing keys "
               f"(e.g. {missing[:3]}), {len(result.unexpected_keys)} unexpected keys "
               f"(e.g. {result.unexpected_keys[:3]})")
        if strict or len(missing) > 0.1 * len(model.state_dict()):
            sys.exit(msg + "\nwrong --variant/--encoder for this checkpoint?")
        print("warning: " + msg, file=sys.stderr)
    model.eval()

    # Bake spectral norm into plain weights (eval mode does no power iteration,
    # so this gives the same numbers and a cleaner graph).
    removed = 0
    for m in model.modules():
        hooks = getattr(m, "_forward_pre_hooks", {})
        if any(h.__class__.__name__ == "SpectralNorm" for h in hooks.values()):
            torch.nn.utils.remove_spectral_norm(m)
            removed += 1
    if removed:
        print(f"baked spectral norm into {removed} layers")
    return model


def grey_test_image(n, size):
    """A smooth grey RGB test image in [0,1] with R=G=B (torch tensor)."""
    import torch

    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    g = 0.5 + 0.3 * torch.sin(6.0 * xx + 1.0) * torch.cos(5.0 * yy) + 0.15 * (xx - yy)
    g = g.clamp(0, 1)[None, None].repeat(n, 3, 1, 1)
    return g.contiguous().float()


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------
def export(model, args):
    import torch

    dummy = grey_test_image(2 if args.dynamic_batch else 1, args.size)
    axes = {}
    if args.dynamic_batch:
        axes[0] = "batch"
    if args.dynamic_hw:
        axes[2], axes[3] = "height", "width"
    kwargs = dict(
        input_names=["input"],
        output_names=["output"],
        opset_version=args.opset,
        do_constant_folding=True,
    )
    if axes:
        kwargs["dynamic_axes"] = {"input": dict(axes), "output": dict(axes)}
    # torch >= 2.9 defaults to the dynamo exporter; this script targets the
    # TorchScript exporter that the official scripts use.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False

    out_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(model, (dummy,), args.output, **kwargs)
    print(f"exported {args.output}")

    try:
        import onnx
    except ImportError:
        print("note: `onnx` not installed; skipping the checker", file=sys.stderr)
        return
    m = onnx.load(args.output)
    onnx.checker.check_model(m)
    if args.simplify:
        try:
            import onnxsim
        except ImportError:
            sys.exit("--simplify needs `pip install onnxsim`")
        m, ok = onnxsim.simplify(m)
        if not ok:
            sys.exit("onnxsim could not validate the simplified model")
    helper_props = {
        "ddcolor_variant": args.variant,
        "ddcolor_size": str(args.size),
        "ddcolor_contract": "input=float32[N,3,S,S] grey RGB 0..1; output=float32[N,2,S,S] Lab ab",
    }
    onnx.helper.set_model_props(m, helper_props)
    onnx.save(m, args.output)
    ins = [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
           for i in m.graph.input]
    outs = [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim])
            for o in m.graph.output]
    print(f"inputs {ins}  outputs {outs}  size {os.path.getsize(args.output) / 1e6:.0f} MB")


def verify(model, args):
    import numpy as np
    import torch

    try:
        import onnxruntime as ort
    except ImportError:
        print("note: onnxruntime not installed; skipping --verify", file=sys.stderr)
        return
    sess = ort.InferenceSession(args.output, providers=["CPUExecutionProvider"])
    shapes = [(1, args.size)]
    if args.dynamic_batch:
        shapes.append((2, args.size))
    if args.dynamic_hw:
        shapes.append((1, 256 if args.size != 256 else 512))
    for n, s in shapes:
        x = grey_test_image(n, s)
        with torch.no_grad():
            ref = model(x).numpy()
        got = sess.run(["output"], {"input": x.numpy()})[0]
        diff = float(np.abs(ref - got).max())
        tol = 1e-3 * max(100.0, float(np.abs(ref).max()))
        print(f"verify N={n} S={s}: output {list(got.shape)}, ab range "
              f"[{got.min():.1f}, {got.max():.1f}], max |onnx - torch| = {diff:.4g} (tol {tol:.3g})")
        if got.shape != (n, 2, s, s) or not np.isfinite(got).all() or diff > tol:
            sys.exit("verification FAILED")
    print("verification ok")


def main(argv=None):
    args = parse_args(argv)
    if importlib.util.find_spec("torch") is None:
        sys.exit("this script needs PyTorch (pip install torch) and the official DDColor code")

    DDColor = import_ddcolor(args.ddcolor_repo)
    weights, config = fetch_checkpoint(args)
    encoder = args.encoder or config.get("encoder_name") or VARIANTS[args.variant][0]
    if args.encoder is None and encoder != VARIANTS[args.variant][0]:
        print(f"note: config.json says encoder {encoder}; using it", file=sys.stderr)
    print(f"variant {args.variant}: encoder {encoder}, weights {weights}, size {args.size}")
    model = build_model(DDColor, encoder, args.size, read_state_dict(weights), args.strict)
    export(model, args)
    if args.verify:
        verify(model, args)


if __name__ == "__main__":
    main()
