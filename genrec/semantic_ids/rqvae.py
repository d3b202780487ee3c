"""RQ-VAE (Rajput et al. 2023, after Zeghidour et al. 2021): MLP encoder -> residual vector
quantisation (levels x K codes) -> MLP decoder; loss = reconstruction + codebook + commitment.

Codebooks start from residual k-means of the first latents and unused codes are reset to
random residuals after each epoch, so no level collapses onto a few codes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from genrec.chunked import CHUNK_ROWS, Rows, iter_chunks
from genrec.io import atomic_path, progress, write_json
from genrec.semantic_ids.kmeans import residual_kmeans


@dataclass
class RQVAEConfig:
    input_dim: int = 384  # item vector size (MiniLM: 384)
    hidden: list[int] = field(default_factory=lambda: [512, 256, 128])  # encoder MLP widths
    latent_dim: int = 32  # quantised latent size (TIGER: 32)
    levels: int = 3  # residual quantisation levels
    codebook_size: int = 256  # codes per level
    beta: float = 0.25  # commitment weight
    epochs: int = 150  # passes over the items
    batch_size: int = 1024
    lr: float = 1e-3  # AdamW
    seed: int = 0


def _mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers[:-1])  # no activation on the output


class RQVAE(nn.Module):
    def __init__(self, cfg: RQVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dims = [cfg.input_dim, *cfg.hidden, cfg.latent_dim]
        self.encoder = _mlp(dims)
        self.decoder = _mlp(dims[::-1])
        # codebooks [levels, K, latent_dim]
        self.codebooks = nn.Parameter(torch.zeros(cfg.levels, cfg.codebook_size, cfg.latent_dim))

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Codes [n, levels], quantised latent [n, latent_dim], residual before each level."""
        residual, zq = z, torch.zeros_like(z)
        codes, residuals = [], []
        for books in self.codebooks:
            residuals.append(residual)
            idx = torch.cdist(residual, books).argmin(dim=1)
            codes.append(idx)
            zq = zq + books[idx]
            residual = residual - books[idx]
        return torch.stack(codes, dim=1), zq, residuals

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        codes, zq, residuals = self.quantize(z)
        q_loss = torch.zeros(())
        for lvl, r in enumerate(residuals):
            e = self.codebooks[lvl][codes[:, lvl]]
            q_loss = q_loss + (e - r.detach()).pow(2).sum(-1).mean()  # codebook
            q_loss = q_loss + self.cfg.beta * (r - e.detach()).pow(2).sum(-1).mean()  # commitment
        x_hat = self.decoder(z + (zq - z).detach())  # straight-through estimator
        recon = (x_hat - x).pow(2).sum(-1).mean()
        return recon + q_loss, codes

    @torch.no_grad()
    def init_codebooks(self, x: torch.Tensor) -> None:
        z = self.encoder(x).numpy()
        books, _ = residual_kmeans(z, self.cfg.levels, self.cfg.codebook_size, self.cfg.seed)
        self.codebooks.copy_(torch.from_numpy(books))

    @torch.no_grad()
    def reset_dead_codes(self, x: torch.Tensor, used: torch.Tensor, gen: torch.Generator) -> int:
        """Move codes unused this epoch ([levels, K] bool `used`) onto random residuals."""
        _, _, residuals = self.quantize(self.encoder(x))
        dead_total = 0
        for lvl, r in enumerate(residuals):
            dead = (~used[lvl]).nonzero().flatten()
            if len(dead):
                pick = torch.randint(len(r), (len(dead),), generator=gen)
                self.codebooks[lvl, dead] = r[pick]
                dead_total += len(dead)
        return dead_total

    @torch.no_grad()
    def _encode_rows(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.eval()
        rows = torch.from_numpy(np.require(x, requirements="W")).float()
        codes, _, residuals = self.quantize(self.encoder(rows))
        cost = torch.cdist(residuals[-1], self.codebooks[-1]).pow(2)
        return codes.numpy().astype(np.int64), cost.numpy()

    def encode_with_cost(self, x: Rows, chunk: int = CHUNK_ROWS
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Codes int64 [n, levels] and squared distances of the last residual to the last
        codebook [n, K] (for collision-aware assignment; `encode` does without)."""
        codes = np.empty((len(x), self.cfg.levels), dtype=np.int64)
        cost = np.empty((len(x), self.cfg.codebook_size), dtype=np.float32)
        for lo, part in iter_chunks(x, chunk):
            codes[lo : lo + len(part)], cost[lo : lo + len(part)] = self._encode_rows(part)
        return codes, cost

    def encode(self, x: Rows, chunk: int = CHUNK_ROWS) -> np.ndarray:
        """Codes int64 [n, levels], `chunk` rows at a time (memory grows with the chunk)."""
        codes = np.empty((len(x), self.cfg.levels), dtype=np.int64)
        for lo, part in iter_chunks(x, chunk):
            codes[lo : lo + len(part)] = self._encode_rows(part)[0]
        return codes

    def save(self, path: str | Path) -> None:
        path = Path(path)
        with atomic_path(path) as tmp:
            save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(tmp))
        write_json(path.with_suffix(".json"), asdict(self.cfg))

    @classmethod
    def load(cls, path: str | Path) -> RQVAE:
        import json

        path = Path(path)
        model = cls(RQVAEConfig(**json.loads(path.with_suffix(".json").read_text())))
        model.load_state_dict(load_file(str(path)))
        return model.eval()


def train_rqvae(x: np.ndarray, cfg: RQVAEConfig) -> tuple[RQVAE, list[float]]:
    """Fit on item vectors x [n, input_dim]; returns the model and the loss per epoch.

    Runs with deterministic kernels: same seed, same thread count -> byte-identical codes.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return _train(x, cfg)
    finally:
        torch.use_deterministic_algorithms(previous)


def _train(x: np.ndarray, cfg: RQVAEConfig) -> tuple[RQVAE, list[float]]:
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    model = RQVAE(cfg)
    model.init_codebooks(data)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    curve: list[float] = []
    for _ in progress(range(cfg.epochs), desc="rqvae"):
        used = torch.zeros(cfg.levels, cfg.codebook_size, dtype=torch.bool)
        total = 0.0
        for batch in torch.randperm(len(data), generator=gen).split(cfg.batch_size):
            loss, codes = model.loss(data[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
            for lvl in range(cfg.levels):
                used[lvl, codes[:, lvl]] = True
        curve.append(total / len(data))
        model.reset_dead_codes(data, used, gen)
    return model.eval(), curve
