#!/usr/bin/env python3
"""Write a tiny random-weight llama GGUF for tests and benchmarks.

The model has a byte-level vocabulary (3 special tokens, 256 byte tokens and the
SentencePiece space), so
any text can be tokenized and any text can be forced out of it with a grammar;
its weights are random, so what it writes unconstrained is noise. It is written
with the `gguf` package, the llama.cpp project's own writer.

    python models/make_fixture.py                    # models/cache/datarus-test-tiny.gguf
    python models/make_fixture.py --size bench-25m   # a ~25M-parameter model for benchmarks
    python models/make_fixture.py --size selftest --out models/selftest.gguf   # the backend self-test model
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFWriter, TokenType

HERE = Path(__file__).resolve().parent

# A ChatML template, so node-llama-cpp resolves a real chat wrapper from the file.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SIZES = {
    # name: (embedding, layers, heads, feed-forward, context)
    "tiny": (64, 2, 4, 128, 8192),
    "bench-25m": (512, 8, 8, 1536, 4096),
    # The backend self-test model shipped with the package (models/selftest.gguf): small enough to commit.
    "selftest": (32, 1, 2, 64, 256),
}


def write_model(path: Path, size: str, seed: int) -> int:
    n_embd, n_layer, n_head, n_ff, n_ctx = SIZES[size]
    rng = np.random.default_rng(seed)

    tokens: list[bytes] = [b"<unk>", b"<s>", b"</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    for byte in range(256):
        tokens.append(f"<0x{byte:02X}>".encode())
        types.append(TokenType.BYTE)
    # SentencePiece writes spaces as U+2581; a token for it makes detokenize(tokenize(text)) == text.
    tokens.append("\u2581".encode())
    types.append(TokenType.NORMAL)
    n_vocab = len(tokens)

    tmp = path.with_name(path.name + ".part")
    writer = GGUFWriter(str(tmp), "llama")
    writer.add_name(f"datarus-test-{size}")
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)  # all F32
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * n_vocab)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(False)
    writer.add_chat_template(CHATML_TEMPLATE)

    params = 0

    def tensor(name: str, *shape: int, ones: bool = False) -> None:
        nonlocal params
        data = np.ones(shape, dtype=np.float32) if ones else (rng.standard_normal(shape) * 0.02).astype(np.float32)
        params += data.size
        writer.add_tensor(name, data)

    # numpy shapes are (rows, cols) = ggml's (ne1, ne0)
    tensor("token_embd.weight", n_vocab, n_embd)
    for i in range(n_layer):
        tensor(f"blk.{i}.attn_norm.weight", n_embd, ones=True)
        tensor(f"blk.{i}.attn_q.weight", n_embd, n_embd)
        tensor(f"blk.{i}.attn_k.weight", n_embd, n_embd)
        tensor(f"blk.{i}.attn_v.weight", n_embd, n_embd)
        tensor(f"blk.{i}.attn_output.weight", n_embd, n_embd)
        tensor(f"blk.{i}.ffn_norm.weight", n_embd, ones=True)
        tensor(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        tensor(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        tensor(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
    tensor("output_norm.weight", n_embd, ones=True)
    tensor("output.weight", n_vocab, n_embd)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, path)  # never leave a half-written file under the final name
    return params


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--force", action="store_true", help="rewrite even if the file exists")
    args = parser.parse_args()
    out = args.out or HERE / "cache" / f"datarus-test-{args.size}.gguf"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not args.force:
        print(f"{out} exists")
        return 0
    params = write_model(out, args.size, args.seed)
    print(f"wrote {out} ({params / 1e6:.2f}M parameters, {out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
