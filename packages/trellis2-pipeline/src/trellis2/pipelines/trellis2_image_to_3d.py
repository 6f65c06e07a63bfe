"""`Trellis2ImageTo3DPipeline`: image -> sparse structure -> shape latent -> texture latent -> textured mesh."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from trellis2_models.cuda_graph import CudaGraphModel

from ..representations import PBR_ATTR_LAYOUT, MeshWithVoxel
from .cascade import choose_cascade_resolution
from .components import DEFAULT_MATTING_MODEL, build_component
from .config import local_model_name, locate_pipeline_config, model_reference, read_pipeline_config
from .errors import name_stage_on_oom
from .image_preprocessing import preprocess_image as prepare_image
from .normalization import LatentNormalization
from .pipeline_types import PipelineType, pipeline_type
from .placement import ComponentPlacement
from .samplers import FlowEulerSampler, ProgressCallback, build_sampler

OUTPUT_AABB = [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]
CASCADE_SOURCE_RESOLUTION = 512
CASCADE_UPSAMPLE_TIMES = 4
FILL_HOLES_MAX_PERIMETER = 3e-2


@dataclass
class RunContext:
    """Per-call state of one generation: its random stream and its progress / cancellation hooks."""

    generator: torch.Generator
    progress: ProgressCallback | None = None
    should_cancel: Callable[[], bool] | None = None

    @classmethod
    def seeded(cls, seed: int, progress: ProgressCallback | None = None,
               should_cancel: Callable[[], bool] | None = None) -> RunContext:
        """A context whose noise comes from a CPU generator seeded with `seed` (same stream as upstream)."""
        return cls(torch.Generator().manual_seed(seed), progress, should_cancel)


def _sparse_tensor(feats: torch.Tensor, coords: torch.Tensor) -> Any:
    from sparsetensor import SparseTensor

    return SparseTensor(feats, coords)


class Trellis2ImageTo3DPipeline:
    """The TRELLIS.2 image-to-3D pipeline with its models, samplers, latent statistics and image components.

    Build it with `from_pretrained`; call `run(image)` for a list of `MeshWithVoxel` (one per sample). `progress`
    (stage, step, total) and `should_cancel` hooks reach every sampler step.
    """

    def __init__(
        self,
        models: dict[str, nn.Module],
        samplers: dict[str, FlowEulerSampler],
        sampler_params: dict[str, dict[str, Any]],
        shape_slat_normalization: LatentNormalization,
        tex_slat_normalization: LatentNormalization,
        image_cond_model: Any,
        rembg_factory: Callable[[], Any] | None = None,
        low_vram: bool = False,
        default_pipeline_type: str = "1024_cascade",
    ) -> None:
        self.models = models
        for model in models.values():
            model.eval()
        self.samplers = samplers
        self.sampler_params = sampler_params
        self.shape_slat_normalization = shape_slat_normalization
        self.tex_slat_normalization = tex_slat_normalization
        self.image_cond_model = image_cond_model
        self._rembg_factory = rembg_factory
        self._rembg_model: Any = None
        self.default_pipeline_type = pipeline_type(default_pipeline_type).name
        self.placement = ComponentPlacement("cpu", low_vram)
        self._dense_graph_runners: dict[str, tuple[tuple, CudaGraphModel]] = {}
        self.pbr_attr_layout = dict(PBR_ATTR_LAYOUT)
        self.progress: ProgressCallback | None = None
        self.should_cancel: Callable[[], bool] | None = None

    # ----------------------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        repo_or_dir: str | Path,
        config_file: str = "pipeline.json",
        model_overrides: dict[str, str] | None = None,
        image_cond_model_name: str | None = None,
        rembg_model_name: str | None = DEFAULT_MATTING_MODEL,
        low_vram: bool | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> Trellis2ImageTo3DPipeline:
        """Load every component named by `config_file` in a local folder or hub repository.

        Model paths are tried relative to the folder first, then as hub references (`owner/repo/path/NAME`).
        `model_overrides` replaces checkpoints per model key (a local `dir/ckpts/NAME` prefix or a hub reference);
        `image_cond_model_name` and `rembg_model_name` replace the DINOv3 / matting model names (e.g. a local copy of
        the gated DINOv3 repository). Background removal defaults to the MIT-licensed ZhengPeng7/BiRefNet (pass None
        to use the config's, briaai/RMBG-2.0, which is gated and non-commercial) and is only loaded when an image
        without transparency arrives. `dtype` overrides the checkpoints' precision (e.g. torch.float32 on a CPU).
        """
        config_path, root = locate_pipeline_config(repo_or_dir, config_file)
        args = read_pipeline_config(config_path)
        repo_id = None if root is not None else str(repo_or_dir)
        unknown = set(model_overrides or {}) - set(args["models"])
        if unknown:
            known = ", ".join(sorted(args["models"]))
            raise ValueError(f"model_overrides names unknown models {sorted(unknown)}; known: {known}")
        from trellis2_models import from_pretrained as load_model

        overrides = {key: str(ref) for key, ref in (model_overrides or {}).items()}
        refs = {key: overrides.get(key) or model_reference(path, root, repo_id) for key, path in args["models"].items()}
        models = {key: load_model(ref, dtype=dtype) for key, ref in refs.items()}
        cond_name = image_cond_model_name or args["image_cond_model"].get("args", {}).get("model_name")
        image_cond_model = build_component(args["image_cond_model"], local_model_name(cond_name, root))
        rembg_section = args.get("rembg_model")
        rembg_factory = None
        if rembg_section is not None:
            matting_name = rembg_model_name or rembg_section.get("args", {}).get("model_name")

            def rembg_factory() -> Any:
                return build_component(rembg_section, local_model_name(matting_name, root))

        pipeline = cls.from_components(args, models, image_cond_model, rembg_factory, low_vram)
        if device is not None:
            pipeline.to(device)
        return pipeline

    @classmethod
    def from_components(
        cls,
        config_args: dict[str, Any],
        models: dict[str, nn.Module],
        image_cond_model: Any,
        rembg_factory: Callable[[], Any] | None = None,
        low_vram: bool | None = None,
    ) -> Trellis2ImageTo3DPipeline:
        """Assemble a pipeline from already built components (e.g. random-weight models for a benchmark).

        `config_args` is the `args` object of a pipeline.json (samplers, latent statistics, default type); `models`
        are keyed like its `models` section. The pipeline stays on the CPU until `to(device)`.
        """
        stages = ("sparse_structure_sampler", "shape_slat_sampler", "tex_slat_sampler")
        sections = {stage: config_args[stage] for stage in stages}
        samplers = {stage: build_sampler(section["name"], section.get("args")) for stage, section in sections.items()}
        params = {stage: dict(section.get("params", {})) for stage, section in sections.items()}
        return cls(
            models, samplers, params,
            LatentNormalization.from_config(config_args["shape_slat_normalization"]),
            LatentNormalization.from_config(config_args["tex_slat_normalization"]),
            image_cond_model, rembg_factory,
            low_vram=config_args.get("low_vram", True) if low_vram is None else low_vram,
            default_pipeline_type=config_args.get("default_pipeline_type", "1024_cascade"),
        )

    # ----------------------------------------------------------------------------------------------- devices
    @property
    def device(self) -> torch.device:
        """The device generation runs on."""
        return self.placement.device

    @property
    def low_vram(self) -> bool:
        """Whether components sit on the CPU and visit the device only while they run."""
        return self.placement.low_vram

    @low_vram.setter
    def low_vram(self, value: bool) -> None:
        self.placement.low_vram = bool(value)
        self.to(self.device)

    @property
    def rembg_model(self) -> Any:
        """The background remover, loaded on first use."""
        if self._rembg_model is None and self._rembg_factory is not None:
            self._rembg_model = self._rembg_factory()
            if not self.low_vram:
                self._rembg_model.to(self.device)
        return self._rembg_model

    def _components(self) -> list[Any]:
        extra = [component for component in (self.image_cond_model, self._rembg_model) if component is not None]
        return [*self.models.values(), *extra]

    def to(self, device: torch.device | str) -> Trellis2ImageTo3DPipeline:
        """Run on `device`; components move there now unless low-VRAM mode keeps them on the CPU until used."""
        self.placement.device = torch.device(device)
        self._dense_graph_runners.clear()  # captured graphs point at the parameters' old storage
        home = "cpu" if self.low_vram else self.placement.device
        for component in self._components():
            component.to(home)
        return self

    def cuda(self) -> Trellis2ImageTo3DPipeline:
        """Run on the current CUDA device."""
        return self.to("cuda")

    def cpu(self) -> Trellis2ImageTo3DPipeline:
        """Run on the CPU."""
        return self.to("cpu")

    # ----------------------------------------------------------------------------------------------- stages
    def preprocess_image(self, image: Image.Image) -> Image.Image:
        """Object-centred, premultiplied square RGB image (background removed unless the image has alpha)."""

        def remove_background(rgb: Image.Image) -> Image.Image:
            remover = self.rembg_model
            if remover is None:
                raise ValueError("the image has no transparency and the pipeline has no background-removal model")
            with self.placement.using(remover):
                return remover(rgb)

        return prepare_image(image, remove_background)

    def get_cond(self, images: list[Image.Image], resolution: int, num_samples: int = 1) -> dict[str, torch.Tensor]:
        """Image tokens at `resolution` as `cond` (one image's tokens repeated for `num_samples` samples), and zeros
        of the same shape as the negative `neg_cond`."""
        self.image_cond_model.image_size = resolution
        with self.placement.using(self.image_cond_model):
            cond = self.image_cond_model(images)
        cond = cond.to(self.device)
        if cond.shape[0] == 1 and num_samples > 1:
            cond = cond.expand(num_samples, *cond.shape[1:]).contiguous()
        return {"cond": cond, "neg_cond": torch.zeros_like(cond)}

    def _sample(self, stage: str, label: str, model: nn.Module, noise: Any, cond: dict, overrides: dict,
                context: RunContext, **model_kwargs: Any) -> Any:
        params = {**self.sampler_params[stage], **overrides}
        with self.placement.using(model):
            # every step has the same shapes (and voxels): replay the flow as a CUDA graph (a no-op off CUDA). Low-VRAM
            # mode skips it, since each captured graph keeps its own activation memory.
            runner = model if self.placement.low_vram else self._graph_runner(stage, model, noise)
            result = self.samplers[stage].sample(
                runner, noise, **cond, **params, **model_kwargs, verbose=True, tqdm_desc=f"Sampling {label}",
                progress=context.progress, should_cancel=context.should_cancel, stage=label, keep_trajectory=False,
            )
        return result.samples

    def _graph_runner(self, stage: str, model: nn.Module, noise: Any) -> CudaGraphModel:
        """The CUDA-graph wrapper for one sampling run. A dense latent's graphs depend only on shapes, so its wrapper
        is kept for later runs (each run would otherwise repeat an eager and a capturing pass per batch size); a sparse
        latent's graphs are tied to this run's voxels, so it gets a fresh wrapper, freed with the run."""
        if not isinstance(noise, torch.Tensor):
            return CudaGraphModel(model)
        first = next(model.parameters(), None)
        fingerprint = (id(model), None if first is None else (first.device, first.data_ptr()))
        kept = self._dense_graph_runners.get(stage)
        if kept is None or kept[0] != fingerprint:
            kept = (fingerprint, CudaGraphModel(model))
            self._dense_graph_runners[stage] = kept
        return kept[1]

    def sample_sparse_structure(
        self, cond: dict, resolution: int, num_samples: int, context: RunContext, sampler_params: dict
    ) -> torch.Tensor:
        """Occupied voxels [N, 4] (batch, x, y, z) of the sparse structure at `resolution` (32 or 64)."""
        flow = self.models["sparse_structure_flow_model"]
        grid = flow.resolution
        noise = torch.randn(num_samples, flow.in_channels, grid, grid, grid, generator=context.generator)
        noise = noise.to(self.device)
        latent = self._sample("sparse_structure_sampler", "sparse_structure", flow, noise, cond, sampler_params,
                              context)
        decoder = self.models["sparse_structure_decoder"]
        with self.placement.using(decoder), torch.no_grad():
            occupied = decoder(latent) > 0
        if occupied.shape[2] != resolution:
            ratio = occupied.shape[2] // resolution
            occupied = torch.nn.functional.max_pool3d(occupied.float(), ratio, ratio, 0) > 0.5
        coords = torch.argwhere(occupied)[:, [0, 2, 3, 4]].int()
        counts = torch.bincount(coords[:, 0].long(), minlength=num_samples)
        if bool((counts == 0).any()):
            empty = torch.nonzero(counts == 0).flatten().tolist()
            raise RuntimeError(f"the sparse structure of sample(s) {empty} is empty; try another seed or image")
        return coords

    def _sample_shape(self, label: str, flow: nn.Module, coords: torch.Tensor, cond: dict,
                      context: RunContext, sampler_params: dict) -> Any:
        feats = torch.randn(coords.shape[0], flow.in_channels, generator=context.generator)
        noise = _sparse_tensor(feats.to(self.device), coords.to(self.device))
        latent = self._sample("shape_slat_sampler", label, flow, noise, cond, sampler_params, context)
        return self.shape_slat_normalization.denormalize(latent)

    def sample_shape_slat_cascade(
        self, lr_cond: dict, cond: dict, spec: PipelineType, coords: torch.Tensor, context: RunContext,
        sampler_params: dict, max_num_tokens: int,
    ) -> tuple[Any, int]:
        """Shape latent sampled at 512, upsampled, re-quantized within the token budget and re-sampled there."""
        lr_latent = self._sample_shape("shape_slat_lr", self.models[spec.lr_shape_flow], coords, lr_cond, context,
                                       sampler_params)
        decoder = self.models["shape_slat_decoder"]
        with self.placement.using(decoder), torch.no_grad():
            hr_coords = decoder.upsample(lr_latent, upsample_times=CASCADE_UPSAMPLE_TIMES)
        hr_coords, resolution = choose_cascade_resolution(
            hr_coords, CASCADE_SOURCE_RESOLUTION, spec.resolution, max_num_tokens
        )
        latent = self._sample_shape("shape_slat", self.models[spec.shape_flow], hr_coords, cond, context,
                                    sampler_params)
        return latent, resolution

    def sample_tex_slat(self, cond: dict, flow: nn.Module, shape_slat: Any, context: RunContext,
                        sampler_params: dict) -> Any:
        """Texture latent on the shape latent's voxels, conditioned on the re-normalised shape latent."""
        shape_normalized = self.shape_slat_normalization.normalize(shape_slat)
        channels = flow.in_channels - shape_slat.feats.shape[1]
        feats = torch.randn(shape_slat.feats.shape[0], channels, generator=context.generator)
        noise = shape_slat.replace(feats.to(self.device))
        latent = self._sample("tex_slat_sampler", "tex_slat", flow, noise, cond, sampler_params, context,
                              concat_cond=shape_normalized)
        return self.tex_slat_normalization.denormalize(latent)

    def decode_latent(self, shape_slat: Any, tex_slat: Any, resolution: int) -> list[MeshWithVoxel]:
        """Meshes (holes up to 3e-2 filled) with their PBR voxels at `resolution`, one per sample."""
        from ovoxel import flexible_dual_grid_to_mesh

        shape_decoder, tex_decoder = self.models["shape_slat_decoder"], self.models["tex_slat_decoder"]
        shape_decoder.set_resolution(resolution)
        with self.placement.using(shape_decoder), torch.no_grad():
            raw, subdivisions = shape_decoder.decode_features(shape_slat)
            grids = shape_decoder.to_dual_grids(raw)
        with self.placement.using(tex_decoder), torch.no_grad():
            voxels = tex_decoder(tex_slat, guide_subs=subdivisions)
        attrs = voxels.feats * 0.5 + 0.5
        outputs = []
        for item, grid in enumerate(grids):
            # the dual vertices go in as in-voxel offsets, the convention of upstream's extraction
            vertices, faces = flexible_dual_grid_to_mesh(
                grid.coords, grid.offsets, grid.intersected, grid.split_weights, aabb=OUTPUT_AABB,
                grid_size=resolution,
            )
            rows = voxels.coords[:, 0] == item
            mesh = MeshWithVoxel(
                torch.as_tensor(vertices), torch.as_tensor(faces), OUTPUT_AABB[0], 1.0 / resolution,
                voxels.coords[rows, 1:], attrs[rows], (1, attrs.shape[1], resolution, resolution, resolution),
                self.pbr_attr_layout,
            )
            mesh.fill_holes(FILL_HOLES_MAX_PERIMETER)
            outputs.append(mesh)
        return outputs

    # ----------------------------------------------------------------------------------------------- run
    def check_pipeline_type(self, name: str | None) -> PipelineType:
        """The pipeline type `name` (default: the config's), after checking that its models are loaded."""
        spec = pipeline_type(name or self.default_pipeline_type)
        missing = [key for key in spec.required_models if key not in self.models]
        if missing:
            raise ValueError(f"pipeline type {spec.name!r} needs models that are not loaded: {', '.join(missing)}")
        return spec

    @torch.no_grad()
    def run(
        self,
        image: Image.Image,
        num_samples: int = 1,
        seed: int = 42,
        sparse_structure_sampler_params: dict | None = None,
        shape_slat_sampler_params: dict | None = None,
        tex_slat_sampler_params: dict | None = None,
        preprocess_image: bool = True,
        return_latent: bool = False,
        pipeline_type: str | None = None,
        max_num_tokens: int = 49152,
        progress: ProgressCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> list[MeshWithVoxel] | tuple[list[MeshWithVoxel], tuple[Any, Any, int]]:
        """Generate `num_samples` textured meshes from `image`; deterministic for a seed on a given device.

        Sampler overrides are merged over the pipeline.json defaults per stage. With `return_latent` also returns
        (shape latent, texture latent, resolution); the resolution may be below the type's when the cascade had to
        fit `max_num_tokens`. `progress` / `should_cancel` apply to this call (default: the instance's hooks).
        """
        spec = self.check_pipeline_type(pipeline_type)
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        if preprocess_image:
            image = self.preprocess_image(image)
        context = RunContext.seeded(seed, progress or self.progress, should_cancel or self.should_cancel)
        with name_stage_on_oom("image conditioning"):
            cond_512 = self.get_cond([image], 512, num_samples)
            cond_hr = cond_512 if spec.cond_resolution == 512 else self.get_cond([image], spec.cond_resolution,
                                                                                  num_samples)
        with name_stage_on_oom("sparse structure sampling"):
            coords = self.sample_sparse_structure(
                cond_512, spec.sparse_structure_resolution, num_samples, context, sparse_structure_sampler_params or {}
            )
        with name_stage_on_oom("shape latent sampling"):
            if spec.is_cascade:
                shape_slat, resolution = self.sample_shape_slat_cascade(
                    cond_512, cond_hr, spec, coords, context, shape_slat_sampler_params or {}, max_num_tokens
                )
            else:
                shape_slat = self._sample_shape("shape_slat", self.models[spec.shape_flow], coords, cond_hr,
                                                context, shape_slat_sampler_params or {})
                resolution = spec.resolution
        with name_stage_on_oom("texture latent sampling"):
            tex_slat = self.sample_tex_slat(cond_hr, self.models[spec.tex_flow], shape_slat, context,
                                            tex_slat_sampler_params or {})
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        with name_stage_on_oom("decoding"):
            meshes = self.decode_latent(shape_slat, tex_slat, resolution)
        return (meshes, (shape_slat, tex_slat, resolution)) if return_latent else meshes
