"""The forward pass of GGUF "llama", "qwen2" and "qwen3" models in PyTorch, written from the
models' definitions and ggml's operator semantics, sharing no code with tandem:

  x = token_embd[ids]
  per layer:  h = rmsnorm(x) * attn_norm
              q, k, v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv)
              qwen3: q, k = rmsnorm(q per head) * q_norm, rmsnorm(k per head) * k_norm
              RoPE on q, k: llama rotates adjacent pairs (2i, 2i+1) (GGUF's q/k rows are
              permuted for that), qwen2/qwen3 rotate (i, i + d/2) ("NeoX"); angle
              pos * base^(-2i/n_rot) / freq_factor_i, with linear scaling and YaRN as ggml does
              attention: causal softmax(q k^T / sqrt(head_dim)), KV head = head // (n_head / n_kv)
              x = x + attn Wo^T;  h = rmsnorm(x) * ffn_norm;  x = x + (silu(h Wg^T) * h Wu^T) Wd^T
  logits = rmsnorm(x) * output_norm @ (output or token_embd)^T
All in float64 from the dequantized weights, with two of ggml's documented roundings made
explicit so that the comparison can be tight: activations multiplied by Q8_0 weights are
quantized to Q8_0 first (blocks of 32, d = max|x| / 127 rounded to f16, q = round(x / d)), and,
with kv_f16, keys and values are rounded to f16 as an f16 KV cache stores them."""
import math

import numpy as np
import torch


def q8_0_round(x):
    """Rows of x as ggml's Q8_0 activation quantizer leaves them (dequantized again)."""
    shape = x.shape
    b = x.reshape(-1, 32).to(torch.float32)
    amax = b.abs().max(dim=1, keepdim=True).values
    d = amax / 127.0
    inv = torch.where(d != 0, 1.0 / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(d))
    v = b * inv
    q = torch.sign(v) * torch.floor(v.abs() + 0.5)
    d16 = d.to(torch.float16).to(torch.float64)
    return (q.to(torch.float64) * d16).reshape(shape)


class Model:
    def __init__(self, reader, kv_f16=False):
        m = reader.meta
        self.r = reader
        self.kv_f16 = kv_f16
        self.types = {name: info[1] for name, info in reader.tensors.items()}
        self.arch = m["general.architecture"]
        a = self.arch + "."
        self.n_embd = m[a + "embedding_length"]
        self.n_layer = m[a + "block_count"]
        self.n_head = m[a + "attention.head_count"]
        self.n_kv = m.get(a + "attention.head_count_kv", self.n_head)
        self.hd = m.get(a + "attention.key_length", self.n_embd // self.n_head)
        self.n_rot = m.get(a + "rope.dimension_count", self.hd)
        self.eps = m[a + "attention.layer_norm_rms_epsilon"]
        self.base = m.get(a + "rope.freq_base", 10000.0)
        stype = m.get(a + "rope.scaling.type", "none")
        factor = m.get(a + "rope.scaling.factor", 1.0)
        self.freq_scale = 1.0 / factor if stype in ("linear", "yarn") and factor else 1.0
        self.yarn = stype == "yarn"
        self.n_ctx_orig = m.get(a + "rope.scaling.original_context_length", m[a + "context_length"])
        self.neox = self.arch in ("qwen2", "qwen3")
        t = lambda n: torch.tensor(reader.tensor(n), dtype=torch.float64) if n in reader.tensors else None
        self.t = t
        self.embd = t("token_embd.weight")
        self.out = t("output.weight")
        if self.out is None:
            self.out = self.embd
        self.out_norm = t("output_norm.weight")
        self.freqs = t("rope_freqs.weight")
        # Weights of the 32-element formats (Q4_0 = 2, Q8_0 = 8) meet activations quantized to Q8_0.
        q8_types = (2, 8)
        self.out_q8 = self.types.get("output.weight", self.types["token_embd.weight"]) in q8_types
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            q8 = {k: self.types.get(p + k) in q8_types for k in ("attn_q.weight", "attn_output.weight", "ffn_gate.weight", "ffn_down.weight")}
            self.layers.append({k: t(p + k) for k in (
                "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                "attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_q_norm.weight", "attn_k_norm.weight",
                "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight")})
            self.layers[-1]["q8"] = q8

    def rms(self, x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, pos):
        # x: [T, H, hd]
        T = x.shape[0]
        half = self.n_rot // 2
        i = torch.arange(half, dtype=torch.float64)
        theta_extrap = pos[:, None].double() * self.base ** (-2.0 * i / self.n_rot)[None, :]
        if self.freqs is not None:
            theta_extrap = theta_extrap / self.freqs[None, :]
        theta_interp = self.freq_scale * theta_extrap
        theta, mscale = theta_interp, 1.0
        if self.yarn:
            # ggml's rope_yarn: blend by a ramp over the correction range, scale magnitudes.
            def corr_dim(n_rot_beta):
                return self.n_rot * math.log(self.n_ctx_orig / (n_rot_beta * 2 * math.pi)) / (2 * math.log(self.base))
            low = max(0.0, math.floor(corr_dim(32.0)))
            high = min(self.n_rot - 1.0, math.ceil(corr_dim(1.0)))
            y = (i - low) / max(0.001, high - low)
            ramp = 1 - torch.clamp(y, 0, 1)  # 1 extrapolate .. 0 interpolate, ext_factor 1
            theta = theta_interp * (1 - ramp) + theta_extrap * ramp
            mscale = 1.0 + 0.1 * math.log(1.0 / self.freq_scale)
        cos, sin = torch.cos(theta) * mscale, torch.sin(theta) * mscale  # [T, half]
        out = x.clone()
        if self.neox:
            a, b = x[..., :half], x[..., half:2 * half]
        else:
            a, b = x[..., 0:2 * half:2], x[..., 1:2 * half:2]
        c, s = cos[:, None, :], sin[:, None, :]
        ra, rb = a * c - b * s, a * s + b * c
        if self.neox:
            out[..., :half], out[..., half:2 * half] = ra, rb
        else:
            out[..., 0:2 * half:2], out[..., 1:2 * half:2] = ra, rb
        return out

    def logits(self, ids):
        ids = torch.tensor(ids)
        T = len(ids)
        pos = torch.arange(T)
        x = self.embd[ids]
        mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
        act = lambda t, quantized: q8_0_round(t) if quantized else t
        f16 = lambda t: t.to(torch.float16).to(torch.float64) if self.kv_f16 else t
        for L in self.layers:
            h = act(self.rms(x, L["attn_norm.weight"]), L["q8"]["attn_q.weight"])
            q, k, v = h @ L["attn_q.weight"].T, h @ L["attn_k.weight"].T, h @ L["attn_v.weight"].T
            if L["attn_q.bias"] is not None:
                q, k, v = q + L["attn_q.bias"], k + L["attn_k.bias"], v + L["attn_v.bias"]
            q = q.view(T, self.n_head, self.hd)
            k = k.view(T, self.n_kv, self.hd)
            v = v.view(T, self.n_kv, -1)
            if L["attn_q_norm.weight"] is not None:
                q, k = self.rms(q, L["attn_q_norm.weight"]), self.rms(k, L["attn_k_norm.weight"])
            q, k = self.rope(q, pos), f16(self.rope(k, pos))
            v = f16(v)
            group = self.n_head // self.n_kv
            outs = []
            for hh in range(self.n_head):
                kv = hh // group
                att = (q[:, hh] @ k[:, kv].T) / math.sqrt(self.hd) + mask
                outs.append(att.softmax(-1) @ v[:, kv])
            x = x + act(torch.cat(outs, -1), L["q8"]["attn_output.weight"]) @ L["attn_output.weight"].T
            h = act(self.rms(x, L["ffn_norm.weight"]), L["q8"]["ffn_gate.weight"])
            g = torch.nn.functional.silu(h @ L["ffn_gate.weight"].T) * (h @ L["ffn_up.weight"].T)
            x = x + act(g, L["q8"]["ffn_down.weight"]) @ L["ffn_down.weight"].T
        return act(self.rms(x, self.out_norm), self.out_q8) @ self.out.T
