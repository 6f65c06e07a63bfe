"""Random sparse inputs shared by the tests."""

import torch
from sparsetensor import SparseTensor


def random_coords(counts: list[int], res: int, generator: torch.Generator, offset: int = 0) -> torch.Tensor:
    """Unique voxels per batch item (count per item, possibly 0) inside [offset, offset + res)^3."""
    parts = []
    for b, n in enumerate(counts):
        flat = torch.randperm(res**3, generator=generator)[:n]
        xyz = torch.stack([flat // (res * res), flat // res % res, flat % res], 1) + offset
        parts.append(torch.cat([torch.full((n, 1), b), xyz], 1))
    return torch.cat(parts).int()


def random_sparse(counts: list[int], res: int, channels: int, seed: int = 0, offset: int = 0) -> SparseTensor:
    """SparseTensor with random features on random unique coords."""
    g = torch.Generator().manual_seed(seed)
    coords = random_coords(counts, res, g, offset)
    return SparseTensor(torch.randn(coords.shape[0], channels, generator=g, dtype=torch.float64), coords,
                        batch_size=len(counts))
