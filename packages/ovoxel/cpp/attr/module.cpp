// Python bindings of the attribute voxelizer: voxel pairs, the texture sampler and the fused per-voxel pass.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "attributes.h"
#include "texture.h"
#include "voxel_pairs.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;
using namespace ovoxel_attr;

namespace {

template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

int resolve_threads(int requested) {
#ifdef _OPENMP
    return requested > 0 ? requested : omp_get_max_threads();
#else
    return 1;
#endif
}

Grid make_grid(std::array<double, 3> voxel_size, std::array<int, 3> grid_size) {
    for (int a = 0; a < 3; ++a) {
        if (grid_size[a] < 1 || grid_size[a] >= (1 << 20)) throw std::invalid_argument("grid size out of range");
        if (!(voxel_size[a] > 0)) throw std::invalid_argument("voxel size must be positive");
    }
    return {{voxel_size[0], voxel_size[1], voxel_size[2]}, {grid_size[0], grid_size[1], grid_size[2]}};
}

void check_shape(const py::array& array, std::vector<py::ssize_t> shape, py::ssize_t rows, const char* name) {
    shape.insert(shape.begin(), rows);
    bool ok = array.ndim() == py::ssize_t(shape.size());
    for (size_t d = 0; ok && d < shape.size(); ++d) ok = array.shape(d) == shape[d];
    if (!ok) throw std::invalid_argument(std::string(name) + " has the wrong shape");
}

py::tuple pairs_binding(Array<float> triangles, std::array<double, 3> voxel_size, std::array<int, 3> grid_size,
                        int num_threads, uint64_t max_marked_box) {
    if (triangles.ndim() != 3 || triangles.shape(1) != 3 || triangles.shape(2) != 3)
        throw std::invalid_argument("triangles must have shape (F, 3, 3)");
    const Grid grid = make_grid(voxel_size, grid_size);
    VoxelPairs pairs;
    {
        py::gil_scoped_release release;
        pairs = triangle_voxel_pairs(triangles.data(), size_t(triangles.shape(0)), grid, resolve_threads(num_threads),
                                     max_marked_box);
    }
    const py::ssize_t n = py::ssize_t(pairs.word.size());
    py::array_t<int32_t> owners(n);
    py::array_t<int32_t> coords({n, py::ssize_t(3)});
    int32_t* owner_out = owners.mutable_data();
    int32_t* coord_out = coords.mutable_data();
    for (py::ssize_t i = 0; i < n; ++i) {
        owner_out[i] = int32_t(pairs.triangle(size_t(i)));
        grid.coords(pairs.key(size_t(i)), coord_out + 3 * i);
    }
    return py::make_tuple(owners, coords);
}

// One texture from same-size uint8 images, (H, W) or (H, W, C), their channels interleaved in list order. Views with
// strided pixels or rows (some channels of a wider image) are read in place.
MipTexture make_texture(const std::vector<py::array_t<uint8_t, py::array::forcecast>>& images, int filter, int wrap) {
    if (images.empty()) throw std::invalid_argument("texture needs at least one image");
    std::vector<Array<uint8_t>> copies;  // contiguous copies of images whose channels are not adjacent bytes
    copies.reserve(images.size());
    std::vector<ImageView> views;
    for (const auto& image : images) {
        if (image.ndim() != 2 && image.ndim() != 3) throw std::invalid_argument("texture must be a uint8 (H, W, C) array");
        if (image.shape(0) != images[0].shape(0) || image.shape(1) != images[0].shape(1))
            throw std::invalid_argument("interleaved textures must have one size");
        const int channels = image.ndim() == 3 ? int(image.shape(2)) : 1;
        if (channels > 1 && image.strides(2) != 1) {
            const auto& copy = copies.emplace_back(Array<uint8_t>::ensure(image));
            views.push_back({copy.data(), channels, copy.strides(1), copy.strides(0)});
        } else {
            views.push_back({image.data(), channels, image.strides(1), image.strides(0)});
        }
    }
    return MipTexture(views, images[0].shape(0), images[0].shape(1), filter, wrap);
}

py::array_t<double> sample_binding(const MipTexture& texture, Array<double> u, Array<double> v, Array<double> level) {
    const py::ssize_t n = u.size();
    if (v.size() != n || level.size() != n) throw std::invalid_argument("u, v and mip_level must have one length");
    py::array_t<double> out({n, py::ssize_t(texture.channels())});
    double* dst = out.mutable_data();
    const double *pu = u.data(), *pv = v.data(), *pl = level.data();
    py::gil_scoped_release release;
    for (py::ssize_t i = 0; i < n; ++i) texture.sample(pu[i], pv[i], pl[i], dst + i * texture.channels());
    return out;
}

py::list levels_binding(const MipTexture& texture) {
    py::list levels;
    const size_t channels = size_t(texture.channels()), stride = size_t(texel_stride(texture.channels()));
    for (const TextureLevel& level : texture.levels()) {
        py::array_t<uint8_t> array({py::ssize_t(level.height), py::ssize_t(level.width), py::ssize_t(channels)});
        uint8_t* dst = array.mutable_data();
        for (size_t t = 0; t < size_t(level.height * level.width); ++t)
            std::copy(&level.texels[t * stride], &level.texels[t * stride + channels], dst + t * channels);
        levels.append(array);
    }
    return levels;
}

py::tuple attributes_binding(Array<float> triangles, Array<double> uvs, Array<double> normals, Array<double> frames,
                             Array<double> mip_levels, Array<int32_t> material_ids, Array<double> factors,
                             Array<int32_t> alpha_modes, Array<int32_t> texture_slots, Array<int32_t> channel_offsets,
                             const std::vector<const MipTexture*>& textures, std::array<double, 3> voxel_size,
                             std::array<int, 3> grid_size, int num_threads) {
    const py::ssize_t count = triangles.ndim() ? triangles.shape(0) : 0;
    check_shape(triangles, {3, 3}, count, "triangles");
    check_shape(uvs, {3, 2}, count, "uvs");
    check_shape(normals, {3, 3}, count, "normals");
    check_shape(frames, {3, 3}, count, "frames");
    check_shape(mip_levels, {kTextureSlots}, count, "mip_levels");
    check_shape(material_ids, {}, count, "material_ids");
    const py::ssize_t parts = factors.ndim() ? factors.shape(0) : 0;
    check_shape(factors, {10}, parts, "factors");
    check_shape(alpha_modes, {}, parts, "alpha_modes");
    check_shape(texture_slots, {kTextureSlots}, parts, "texture_slots");
    check_shape(channel_offsets, {kTextureSlots}, parts, "channel_offsets");
    std::vector<Material> materials(static_cast<size_t>(parts));
    for (py::ssize_t p = 0; p < parts; ++p) {
        Material& m = materials[size_t(p)];
        const double* f = factors.data() + 10 * p;
        std::copy(f, f + 4, m.base_color);
        m.metallic = f[4];
        m.roughness = f[5];
        std::copy(f + 6, f + 9, m.emissive);
        m.alpha_cutoff = f[9];
        m.alpha_mode = alpha_modes.data()[p];
        for (int s = 0; s < kTextureSlots; ++s) {
            const int32_t index = texture_slots.data()[kTextureSlots * p + s];
            if (index >= int32_t(textures.size())) throw std::invalid_argument("texture slot out of range");
            m.textures[s] = index < 0 ? nullptr : textures[size_t(index)];
            m.channel_offset[s] = channel_offsets.data()[kTextureSlots * p + s];
            if (m.textures[s] && (m.channel_offset[s] < 0 ||
                                  m.channel_offset[s] + kSlotChannels[s] > m.textures[s]->channels()))
                throw std::invalid_argument("slot channels past the end of their texture (base colour 4, "
                                            "metallic-roughness 2, emissive 3, normal 3)");
        }
    }
    for (py::ssize_t f = 0; f < count; ++f)
        if (material_ids.data()[f] < 0 || material_ids.data()[f] >= parts)
            throw std::invalid_argument("material id out of range");
    const TriangleTable table{size_t(count), triangles.data(),  uvs.data(),         normals.data(),
                              frames.data(), mip_levels.data(), material_ids.data()};
    const Grid grid = make_grid(voxel_size, grid_size);
    SortedPairs sorted;
    {
        py::gil_scoped_release release;
        sorted = sort_pairs(table, grid, resolve_threads(num_threads));
    }
    const py::ssize_t voxels = py::ssize_t(sorted.voxels());
    py::array_t<int32_t> coords({voxels, py::ssize_t(3)});
    AttributeRows rows{coords.mutable_data(), {}};
    py::list attributes;
    for (size_t a = 0; a < std::size(kAttributeWidths); ++a) {
        py::array_t<uint8_t> attribute({voxels, py::ssize_t(kAttributeWidths[a])});
        rows.attribute[a] = attribute.mutable_data();
        attributes.append(attribute);
    }
    {
        py::gil_scoped_release release;
        evaluate_voxels(sorted, table, materials, grid, resolve_threads(num_threads), rows);
    }
    return py::make_tuple(coords, attributes);
}

}  // namespace

PYBIND11_MODULE(_attr, m) {
    m.doc() = "Native PBR attribute voxelization: triangle/voxel pairs, texture sampling, per-voxel averaging.";
    m.def("triangle_voxel_pairs", &pairs_binding, py::arg("triangles"), py::arg("voxel_size"), py::arg("grid_size"),
          py::arg("num_threads") = 0, py::arg("max_marked_box") = kMaxMarkedBox,
          "For each triangle (coordinates relative to the grid origin), the distinct voxels its edge-line "
          "crossings touch; returns (triangle ids int32 (M,), voxel coords int32 (M, 3)) grouped by triangle. "
          "Repeats are dropped with marks over each triangle's voxel box, or by sorting above max_marked_box cells.");
    py::class_<MipTexture>(m, "MipTexture")
        .def(py::init(&make_texture), py::arg("images"), py::arg("filter_mode"), py::arg("wrap"),
             "Same-size uint8 (H, W[, C]) images (views of some channels are read in place) interleaved into one "
             "texture of at most 16 channels; linear filtering builds the mip chain (square power-of-two side).")
        .def("sample", &sample_binding, py::arg("u"), py::arg("v"), py::arg("mip_level"),
             "float64 (n, C) samples in [0, 1] at UVs (origin bottom-left) and fractional mip levels.")
        .def_property_readonly("levels", &levels_binding, "Copies of the mip levels, finest first.");
    m.def("voxelize_attributes", &attributes_binding, py::arg("triangles"), py::arg("uvs"), py::arg("normals"),
          py::arg("frames"), py::arg("mip_levels"), py::arg("material_ids"), py::arg("factors"),
          py::arg("alpha_modes"), py::arg("texture_slots"), py::arg("channel_offsets"), py::arg("textures"), py::arg("voxel_size"),
          py::arg("grid_size"), py::arg("num_threads") = 0,
          "Per-triangle arrays (see attributes.h) and per-material factors (base colour 4, metallic, roughness, "
          "emissive 3, alpha cutoff), alpha modes, texture indices (-1: none) and first channels of the slots "
          "base colour (RGBA), metallic-roughness (the glTF texture's G and B only), emissive, normal; returns "
          "sorted voxel coords "
          "int32 (N, 3) and a list of uint8 attributes: base colour (N, 3), metallic, roughness (N, 1), emissive "
          "(N, 3), alpha (N, 1), normal (N, 3).");
}
