"""The neural timbre network (PyTorch; training and export only, never imported by rtgen).

Per voice and hop: features [F] (see ``rtgen.timbre.analysis.FEATURE_NAMES``), an instrument
embedding [E] and, for the drum kit, a learned embedding of the key go through a 2-layer
MLP, a GRU (hidden H) and a 1-layer MLP to the controls of a harmonic-plus-noise
synthesiser, as in DDSP (Engel et al., ICLR 2020):

* amplitude [1]: exp(log-amplitude), the sum of the harmonic amplitudes (linear, full scale 1);
* harmonics [64]: a distribution over the harmonics (softmax); the runtime masks the ones
  above Nyquist and renormalises;
* noise [8]: RMS amplitude of the noise in each band (``NOISE_BAND_EDGES_HZ``);
* f0_cents [1]: the pitch deviation of this hop in cents: the slow part 100 tanh(y / 2)
  (scoops, tuning) plus, with a trained ``VibratoNet`` attached as ``vibrato``, a vibrato
  depth × sin(2π rate t_on) whose depth and rate it predicts (models/train_vibrato.py).

The embedding's last column is fixed, not learned: 1 for the kit, 0 for pitched instruments.
It gates the key embedding ``key_table[round(pitch)]``, so each drum key has its own sound
while pitched instruments never see a per-key term (their held-out keys stay held out).

``forward_seq`` runs whole notes with ``nn.GRU`` for training; ``step`` is the single hop the
runtime executes, written with elementary ops (the GRU cell spelled out with the same
weights) so the ONNX graph is a plain feed-forward step with the state as input and output.
``rtgen.timbre.reference.step`` is the same step in NumPy (the CI parity check).
"""

from __future__ import annotations

import math

import torch
from torch import nn

LA_MIN, LA_MAX = -12.0, 1.0
LN_MIN, LN_MAX = -14.0, 0.0
CENTS_SCALE = 100.0
TLOG = math.log1p(4.0 / 0.02)          # the time features' scale (rtgen.timbre.analysis)


class VibratoNet(nn.Module):
    """features + embedding → vibrato depth (cents, softplus) and rate (Hz, 3 + 6·sigmoid)."""

    def __init__(self, n_in: int, width: int = 32) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(n_in, width), nn.LeakyReLU(0.1), nn.Linear(width, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.mlp(x)
        return nn.functional.softplus(y[..., 0]), 3.0 + 6.0 * torch.sigmoid(y[..., 1])


class TimbreNet(nn.Module):
    def __init__(self, n_instr: int, n_features: int = 5, emb: int = 12, hidden: int = 128, width: int = 128,
                 n_harm: int = 64, n_noise: int = 8, key_dim: int = 8, drums: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.n_harm, self.n_noise, self.hidden, self.emb_dim = n_harm, n_noise, hidden, emb + 1
        self.embedding = nn.Embedding(n_instr, emb)
        nn.init.normal_(self.embedding.weight, std=0.5)
        is_drum = torch.zeros(n_instr, 1)
        for d in drums:
            is_drum[d, 0] = 1.0
        self.register_buffer("is_drum", is_drum)
        self.key_table = nn.Parameter(torch.randn(128, key_dim) * 0.5)
        self.inp = nn.Sequential(nn.Linear(n_features + emb + 1 + key_dim, width), nn.LeakyReLU(0.1),
                                 nn.Linear(width, width), nn.LeakyReLU(0.1))
        self.gru = nn.GRU(width, hidden, batch_first=True)
        self.out = nn.Sequential(nn.Linear(hidden + width, width), nn.LeakyReLU(0.1),
                                 nn.Linear(width, 1 + n_harm + n_noise + 1))

    def embedding_table(self) -> torch.Tensor:
        """``[n_instr, E]``: the learned rows and the fixed drum column (what the runtime holds)."""
        return torch.cat([self.embedding.weight, self.is_drum], dim=-1)

    def _input(self, feats: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        key = torch.clamp(torch.round(feats[..., 0] * 18.0 + 66.0), 0.0, 127.0).long()
        kemb = self.key_table[key] * emb[..., -1:]
        return self.inp(torch.cat([feats, emb, kemb], dim=-1))

    def _heads(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        nh = self.n_harm
        la = y[..., :1].clamp(LA_MIN, LA_MAX)
        logits = y[..., 1:1 + nh]
        ln = y[..., 1 + nh:1 + nh + self.n_noise].clamp(LN_MIN, LN_MAX)
        cents = CENTS_SCALE * torch.tanh(0.5 * y[..., 1 + nh + self.n_noise:])
        return la, logits, ln, cents

    def forward_seq(self, feats: torch.Tensor, emb: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """feats [B,T,F], emb [B,E] → log-amplitude [B,T,1], harmonic logits [B,T,64], log-noise [B,T,8],
        cents [B,T,1]."""
        e = emb[:, None, :].expand(-1, feats.shape[1], -1)
        x = self._input(feats, e)
        h, _ = self.gru(x)
        return self._heads(self.out(torch.cat([h, x], dim=-1)))

    def step(self, feats: torch.Tensor, emb: torch.Tensor, state: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One hop for V voices: feats [V,F], emb [V,E], state [V,H] → amplitude [V,1], harmonics [V,64],
        noise [V,8], state_out [V,H], f0_cents [V,1]."""
        x = self._input(feats, emb)
        g = self.gru
        hsz = self.hidden
        gi = nn.functional.linear(x, g.weight_ih_l0, g.bias_ih_l0)       # Gemm: stable initializer names
        gh = nn.functional.linear(state, g.weight_hh_l0, g.bias_hh_l0)
        r = torch.sigmoid(gi[:, :hsz] + gh[:, :hsz])
        z = torch.sigmoid(gi[:, hsz:2 * hsz] + gh[:, hsz:2 * hsz])
        n = torch.tanh(gi[:, 2 * hsz:] + r * gh[:, 2 * hsz:])
        h = (1.0 - z) * n + z * state
        la, logits, ln, cents = self._heads(self.out(torch.cat([h, x], dim=-1)))
        vib = getattr(self, "vibrato", None)
        if vib is not None:
            depth, rate = vib(torch.cat([feats, emb], dim=-1))
            t_on = 0.02 * (torch.exp(feats[:, 2:3] * TLOG) - 1.0)
            cents = cents + depth[:, None] * torch.sin(2.0 * math.pi * rate[:, None] * t_on)
        return torch.exp(la), torch.softmax(logits, dim=-1), torch.exp(ln), h, cents


class StepModule(nn.Module):
    """What is exported: ``TimbreNet.step`` as ``forward`` (``with_cents=False`` drops f0_cents)."""

    def __init__(self, net: TimbreNet, with_cents: bool = True) -> None:
        super().__init__()
        self.net = net
        self.with_cents = with_cents

    def forward(self, features: torch.Tensor, embedding: torch.Tensor, state: torch.Tensor
                ) -> tuple[torch.Tensor, ...]:
        out = self.net.step(features, embedding, state)
        return out if self.with_cents else out[:4]
