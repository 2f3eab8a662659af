"""The neural timbre network (PyTorch; training and export only, never imported by rtgen).

Per voice and hop: features [F] (see ``rtgen.timbre.analysis.FEATURE_NAMES``) and an
instrument embedding [E] go through a 2-layer MLP, a GRU (hidden H) and a 1-layer MLP to
the controls of a harmonic-plus-noise synthesiser, as in DDSP (Engel et al., ICLR 2020):

* amplitude [1]: exp(log-amplitude), the sum of the harmonic amplitudes (linear, full scale 1);
* harmonics [64]: a distribution over the harmonics (softmax); the runtime masks the ones
  above Nyquist and renormalises;
* noise [8]: RMS amplitude of the noise in each band (``NOISE_BAND_EDGES_HZ``).

``forward_seq`` runs whole notes with ``nn.GRU`` for training; ``step`` is the single hop the
runtime executes, written with elementary ops (the GRU cell spelled out with the same
weights) so the ONNX graph is a plain feed-forward step with the state as input and output.
"""

from __future__ import annotations

import torch
from torch import nn

LA_MIN, LA_MAX = -12.0, 1.0
LN_MIN, LN_MAX = -14.0, 0.0


class TimbreNet(nn.Module):
    def __init__(self, n_instr: int, n_features: int = 5, emb: int = 8, hidden: int = 96, width: int = 128,
                 n_harm: int = 64, n_noise: int = 8) -> None:
        super().__init__()
        self.n_harm, self.n_noise, self.hidden, self.emb_dim = n_harm, n_noise, hidden, emb
        self.embedding = nn.Embedding(n_instr, emb)
        nn.init.normal_(self.embedding.weight, std=0.5)
        self.inp = nn.Sequential(nn.Linear(n_features + emb, width), nn.LeakyReLU(0.1),
                                 nn.Linear(width, width), nn.LeakyReLU(0.1))
        self.gru = nn.GRU(width, hidden, batch_first=True)
        self.out = nn.Sequential(nn.Linear(hidden + width, width), nn.LeakyReLU(0.1),
                                 nn.Linear(width, 1 + n_harm + n_noise))

    def _heads(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        la = y[..., :1].clamp(LA_MIN, LA_MAX)
        logits = y[..., 1:1 + self.n_harm]
        ln = y[..., 1 + self.n_harm:].clamp(LN_MIN, LN_MAX)
        return la, logits, ln

    def forward_seq(self, feats: torch.Tensor, emb: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """feats [B,T,F], emb [B,E] → log-amplitude [B,T,1], harmonic logits [B,T,64], log-noise [B,T,8]."""
        e = emb[:, None, :].expand(-1, feats.shape[1], -1)
        x = self.inp(torch.cat([feats, e], dim=-1))
        h, _ = self.gru(x)
        return self._heads(self.out(torch.cat([h, x], dim=-1)))

    def step(self, feats: torch.Tensor, emb: torch.Tensor, state: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One hop for V voices: feats [V,F], emb [V,E], state [V,H] → amplitude [V,1], harmonics [V,64],
        noise [V,8], state_out [V,H]."""
        x = self.inp(torch.cat([feats, emb], dim=-1))
        g = self.gru
        hsz = self.hidden
        gi = x @ g.weight_ih_l0.t() + g.bias_ih_l0
        gh = state @ g.weight_hh_l0.t() + g.bias_hh_l0
        r = torch.sigmoid(gi[:, :hsz] + gh[:, :hsz])
        z = torch.sigmoid(gi[:, hsz:2 * hsz] + gh[:, hsz:2 * hsz])
        n = torch.tanh(gi[:, 2 * hsz:] + r * gh[:, 2 * hsz:])
        h = (1.0 - z) * n + z * state
        la, logits, ln = self._heads(self.out(torch.cat([h, x], dim=-1)))
        return torch.exp(la), torch.softmax(logits, dim=-1), torch.exp(ln), h


class StepModule(nn.Module):
    """What is exported: ``TimbreNet.step`` as ``forward``."""

    def __init__(self, net: TimbreNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, features: torch.Tensor, embedding: torch.Tensor, state: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.net.step(features, embedding, state)
