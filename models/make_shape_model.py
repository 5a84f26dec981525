#!/usr/bin/env python3
"""Write a random-weight GGUF with the shape of Qwen2.5-14B (Datarus-R1-14B's base), for GPU benchmarks.

qwen2 architecture; by default 48 layers, 5120 hidden, 40 query / 8 key-value heads of 128, FFN 13824 and
a 152,064-token vocabulary, with Q4_K matrices and Q6_K for V, every other FFN-down and the output, as in a
Q4_K_M file (about 9 GB). The weights are random quantized blocks with small scales so activations stay
finite in f16: its text is noise, its speed is a 14B model's. Smaller shapes of the same kind:

    python models/make_shape_model.py OUT.gguf                                    # the 14B shape (~9 GB)
    python models/make_shape_model.py OUT.gguf --layers 2 --embd 512 --ff 1536 --vocab 4096   # CPU dry run
    python models/make_shape_model.py OUT.gguf --layers 2 --embd 512 --ff 1536    # 2 layers, 152k vocabulary

Needs numpy and the `gguf` package (llama.cpp's own writer).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, TokenType

QK_K = 256  # values per K-quant super-block
BLOCK_BYTES = {GGMLQuantizationType.Q4_K: 144, GGMLQuantizationType.Q6_K: 210}
# Byte offsets of the f16 scale fields in a block, and the values written there: Q4_K has d and dmin
# (a min that centres the weights on zero), Q6_K only d.
SCALE_FIELDS = {GGMLQuantizationType.Q4_K: ((0, 2e-5), (2, 1.5e-4)), GGMLQuantizationType.Q6_K: ((208, 2e-6),)}
HEAD_DIM = 128

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class RandomBlocks:
    """Random quantized matrices; equal shapes share one buffer, so writing 9 GB stays fast."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._cache: dict[tuple[int, int, GGMLQuantizationType], np.ndarray] = {}

    def matrix(self, rows: int, cols: int, kind: GGMLQuantizationType) -> np.ndarray:
        key = (rows, cols, kind)
        if key not in self._cache:
            if cols % QK_K:
                raise SystemExit(f"{cols} columns is not a multiple of {QK_K}: K-quants need whole super-blocks")
            blocks = cols // QK_K
            size = BLOCK_BYTES[kind]
            data = np.frombuffer(self._rng.bytes(rows * blocks * size), np.uint8).reshape(rows, blocks, size).copy()
            for offset, value in SCALE_FIELDS[kind]:
                data[:, :, offset : offset + 2] = np.frombuffer(np.float16(value).tobytes(), np.uint8)
            self._cache[key] = data.reshape(rows, blocks * size)
        return self._cache[key]


def vocabulary(size: int) -> tuple[list[bytes], list[TokenType], int]:
    """Byte tokens (any text can be tokenized), ChatML control tokens, then filler words up to `size`."""
    tokens = [b"<unk>", b"<s>", b"</s>"] + [f"<0x{b:02X}>".encode() for b in range(256)] + ["\u2581".encode()]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL] + [TokenType.BYTE] * 256 + [TokenType.NORMAL]
    im_end = len(tokens) + 1
    for special in ("<|im_start|>", "<|im_end|>"):
        tokens.append(special.encode())
        types.append(TokenType.CONTROL)
    if size < len(tokens):
        raise SystemExit(f"--vocab must be at least {len(tokens)}")
    while len(tokens) < size:
        tokens.append(f"\u2581w{len(tokens)}".encode())
        types.append(TokenType.NORMAL)
    return tokens, types, im_end


def write_model(out: Path, layers: int, embd: int, ff: int, vocab: int, seed: int) -> None:
    heads = embd // HEAD_DIM
    kv_heads = max(1, embd // 640)  # 40/8 at 5120, as in Qwen2.5-14B
    q4, q6 = GGMLQuantizationType.Q4_K, GGMLQuantizationType.Q6_K
    tokens, types, im_end = vocabulary(vocab)
    blocks = RandomBlocks(seed)

    tmp = out.with_name(out.name + ".part")
    writer = GGUFWriter(str(tmp), "qwen2")
    writer.add_name(f"qwen2.5-shape-random-{layers}l-{embd}e-{vocab}v")
    writer.add_context_length(32768)
    writer.add_embedding_length(embd)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(1e6)
    writer.add_file_type(15)  # MOSTLY_Q4_K_M
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * vocab)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(im_end)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, np.float32)

    def quant(name: str, rows: int, cols: int, kind: GGMLQuantizationType) -> None:
        writer.add_tensor(name, blocks.matrix(rows, cols, kind), raw_dtype=kind)

    kv = kv_heads * HEAD_DIM
    quant("token_embd.weight", vocab, embd, q4)
    for i in range(layers):
        b = f"blk.{i}."
        writer.add_tensor(b + "attn_norm.weight", ones(embd))
        quant(b + "attn_q.weight", embd, embd, q4)
        writer.add_tensor(b + "attn_q.bias", zeros(embd))
        quant(b + "attn_k.weight", kv, embd, q4)
        writer.add_tensor(b + "attn_k.bias", zeros(kv))
        quant(b + "attn_v.weight", kv, embd, q6)
        writer.add_tensor(b + "attn_v.bias", zeros(kv))
        quant(b + "attn_output.weight", embd, embd, q4)
        writer.add_tensor(b + "ffn_norm.weight", ones(embd))
        quant(b + "ffn_gate.weight", ff, embd, q4)
        quant(b + "ffn_up.weight", ff, embd, q4)
        quant(b + "ffn_down.weight", embd, ff, q6 if i % 2 == 0 else q4)
    writer.add_tensor("output_norm.weight", ones(embd))
    quant("output.weight", vocab, embd, q6)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)  # never leave a half-written file under the final name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--layers", type=int, default=48)
    parser.add_argument("--embd", type=int, default=5120)
    parser.add_argument("--ff", type=int, default=13824)
    parser.add_argument("--vocab", type=int, default=152064)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rewrite even if the file exists")
    args = parser.parse_args()
    if args.out.exists() and not args.force:
        print(f"{args.out} exists")
        return 0
    if args.embd % HEAD_DIM:
        raise SystemExit(f"--embd must be a multiple of {HEAD_DIM}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_model(args.out, args.layers, args.embd, args.ff, args.vocab, args.seed)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e9:.2f} GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
