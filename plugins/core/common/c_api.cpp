#include "roipool/c_api.h"

#include <cstring>
#include <string>

#include "c_api_guard.h"

namespace {

using roipool::c_api::reported;

bool valid_op(int32_t op) { return op >= 0 && op < roipool::kNumOps; }

roipool::CpuOptions cpu_options(const roipool::CpuOptions* cpu) {
  return cpu != nullptr ? *cpu : roipool::CpuOptions{};
}

}  // namespace

const char* roipool_version(void) { return ROIPOOL_VERSION; }

int32_t roipool_cuda_compiled(void) { return roipool::cuda_compiled() ? 1 : 0; }

const char* roipool_cpu_isa(void) { return roipool::cpu_isa(); }

int32_t roipool_op_from_name(const char* name, int32_t* op) {
  roipool::OpKind kind;
  if (name == nullptr || !roipool::op_from_name(name, &kind)) return 1;
  *op = static_cast<int32_t>(kind);
  return 0;
}

int32_t roipool_default_attrs(int32_t op, roipool::OpAttrs* attrs) {
  if (!valid_op(op) || attrs == nullptr) return 1;
  *attrs = roipool::default_attrs(static_cast<roipool::OpKind>(op));
  return 0;
}

int32_t roipool_set_attribute(int32_t op, roipool::OpAttrs* attrs, const char* name, int32_t type,
                              const int64_t* ints, const float* floats, int64_t count,
                              const char* text, char* error, size_t error_size) {
  return reported(error, error_size, [&] {
    if (!valid_op(op) || attrs == nullptr || name == nullptr || count < 0) {
      return roipool::Status::InvalidArgument("roipool_set_attribute: bad arguments");
    }
    roipool::AttrValue value;
    value.type = static_cast<roipool::AttrType>(type);
    if (ints != nullptr) value.ints.assign(ints, ints + count);
    if (floats != nullptr) value.floats.assign(floats, floats + count);
    if (text != nullptr) value.text = text;
    return roipool::set_attribute(static_cast<roipool::OpKind>(op), name, value, attrs);
  });
}

int32_t roipool_attribute_type(int32_t op, const char* name, int32_t* type) {
  if (!valid_op(op) || name == nullptr || type == nullptr) return 1;
  return reported(nullptr, 0, [&] {
    for (const roipool::AttrSpec& spec : roipool::op_attributes(static_cast<roipool::OpKind>(op))) {
      if (std::strcmp(spec.name, name) == 0) {
        *type = static_cast<int32_t>(spec.type);
        return roipool::Status::Ok();
      }
    }
    return roipool::Status::InvalidArgument("no such attribute");
  });
}

int32_t roipool_rois_columns(int32_t op) {
  return valid_op(op) ? roipool::rois_columns(static_cast<roipool::OpKind>(op)) : -1;
}

int64_t roipool_output_channels(int32_t op, const roipool::OpAttrs* attrs, int64_t channels) {
  if (!valid_op(op) || attrs == nullptr) return -1;
  return roipool::output_channels(static_cast<roipool::OpKind>(op), *attrs, channels);
}

int32_t roipool_forward_with(int32_t op, const roipool::OpAttrs* attrs,
                             const roipool::OpArgs* args, int32_t device, void* stream,
                             const roipool::CpuOptions* cpu, char* error, size_t error_size) {
  return reported(error, error_size, [&] {
    if (!valid_op(op) || attrs == nullptr || args == nullptr || (device != 0 && device != 1)) {
      return roipool::Status::InvalidArgument("roipool_forward: bad arguments");
    }
    const auto kind = static_cast<roipool::OpKind>(op);
    return device == 0 ? roipool::forward_cpu(kind, *attrs, *args, cpu_options(cpu))
                       : roipool::forward_cuda(kind, *attrs, *args, stream);
  });
}

int32_t roipool_backward_with(int32_t op, const roipool::OpAttrs* attrs,
                              const roipool::OpArgs* args, const roipool::GradArgs* grads,
                              int32_t device, void* stream, const roipool::CpuOptions* cpu,
                              char* error, size_t error_size) {
  return reported(error, error_size, [&] {
    if (!valid_op(op) || attrs == nullptr || args == nullptr || grads == nullptr ||
        (device != 0 && device != 1)) {
      return roipool::Status::InvalidArgument("roipool_backward: bad arguments");
    }
    const auto kind = static_cast<roipool::OpKind>(op);
    return device == 0 ? roipool::backward_cpu(kind, *attrs, *args, *grads, cpu_options(cpu))
                       : roipool::backward_cuda(kind, *attrs, *args, *grads, stream);
  });
}

int32_t roipool_forward(int32_t op, const roipool::OpAttrs* attrs, const roipool::OpArgs* args,
                        int32_t device, void* stream, int32_t num_threads, char* error,
                        size_t error_size) {
  const roipool::CpuOptions cpu{num_threads};
  return roipool_forward_with(op, attrs, args, device, stream, &cpu, error, error_size);
}

int32_t roipool_backward(int32_t op, const roipool::OpAttrs* attrs, const roipool::OpArgs* args,
                         const roipool::GradArgs* grads, int32_t device, void* stream,
                         int32_t num_threads, char* error, size_t error_size) {
  const roipool::CpuOptions cpu{num_threads};
  return roipool_backward_with(op, attrs, args, grads, device, stream, &cpu, error, error_size);
}

int32_t roipool_backward_reads_input(int32_t op, const roipool::OpAttrs* attrs,
                                     const roipool::OpArgs* args, const roipool::GradArgs* grads) {
  if (!valid_op(op) || attrs == nullptr || args == nullptr || grads == nullptr) return -1;
  return roipool::backward_reads_input(static_cast<roipool::OpKind>(op), *attrs, *args, *grads)
             ? 1
             : 0;
}

int64_t roipool_first_invalid_batch_index(const void* rois, int32_t rois_dtype, int64_t num_rois,
                                          int32_t columns, int64_t batch) {
  if ((rois == nullptr && num_rois > 0) || num_rois < 0 || columns < 1 || rois_dtype < 0 ||
      rois_dtype > 2) {
    return -2;
  }
  return roipool::first_invalid_batch_index(rois, static_cast<roipool::DType>(rois_dtype),
                                            num_rois, columns, batch);
}
