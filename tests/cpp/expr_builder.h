// A test implementation of TensorRT's IExprBuilder / IDimensionExpr: symbolic dimensions
// are named ("K", "C", ...), operations on constants fold, other operations produce a
// readable expression such as "floor_div(C, 6)".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "NvInferRuntime.h"

namespace roipool::test {

class Expr final : public nvinfer1::IDimensionExpr {
 public:
  Expr(std::optional<int64_t> value, std::string text) : impl_(value, std::move(text)) { mImpl = &impl_; }
  ~Expr() noexcept override = default;
  const std::string& text() const { return impl_.text; }

 private:
  struct Impl final : nvinfer1::apiv::VDimensionExpr {
    Impl(std::optional<int64_t> v, std::string t) : value(v), text(std::move(t)) {}
    bool isConstant() const override { return value.has_value(); }
    int64_t getConstantValue() const override { return value.value_or(-1); }
    bool isSizeTensor() const override { return false; }
    std::optional<int64_t> value;
    std::string text;
  };
  Impl impl_;
};

class ExprBuilder final : public nvinfer1::IExprBuilder {
 public:
  ExprBuilder() { mImpl = &impl_; }
  ~ExprBuilder() noexcept override = default;

  const Expr* symbol(const std::string& name) { return impl_.make(std::nullopt, name); }
  const Expr* dim(int64_t value) { return impl_.make(value, std::to_string(value)); }

  // Text of an expression this builder made ("K", "floor_div(C, 6)", "12").
  static std::string text(const nvinfer1::IDimensionExpr* e) {
    return e == nullptr ? "<null>" : static_cast<const Expr*>(e)->text();
  }

 private:
  struct Impl final : nvinfer1::apiv::VExprBuilder {
    const Expr* make(std::optional<int64_t> value, std::string text) {
      exprs.push_back(std::make_unique<Expr>(value, std::move(text)));
      return exprs.back().get();
    }
    const nvinfer1::IDimensionExpr* constant(int64_t value) override {
      return make(value, std::to_string(value));
    }
    const nvinfer1::IDimensionExpr* operation(nvinfer1::DimensionOperation op,
                                              const nvinfer1::IDimensionExpr& a,
                                              const nvinfer1::IDimensionExpr& b) override;
    const nvinfer1::IDimensionExpr* declareSizeTensor(int32_t, const nvinfer1::IDimensionExpr&,
                                                      const nvinfer1::IDimensionExpr&) override {
      return nullptr;  // roipool plugins have no size-tensor outputs
    }
    std::vector<std::unique_ptr<Expr>> exprs;
  };
  Impl impl_;
};

inline const nvinfer1::IDimensionExpr* ExprBuilder::Impl::operation(nvinfer1::DimensionOperation op,
                                                                    const nvinfer1::IDimensionExpr& a,
                                                                    const nvinfer1::IDimensionExpr& b) {
  using nvinfer1::DimensionOperation;
  static const char* const names[] = {"sum", "prod", "max", "min", "sub", "eq", "less", "floor_div", "ceil_div"};
  const auto index = static_cast<int32_t>(op);
  if (index < 0 || index > 8) return nullptr;
  if (a.isConstant() && b.isConstant()) {
    const int64_t x = a.getConstantValue();
    const int64_t y = b.getConstantValue();
    if ((op == DimensionOperation::kFLOOR_DIV || op == DimensionOperation::kCEIL_DIV) && y == 0) return nullptr;
    int64_t r = 0;
    switch (op) {
      case DimensionOperation::kSUM: r = x + y; break;
      case DimensionOperation::kPROD: r = x * y; break;
      case DimensionOperation::kMAX: r = x > y ? x : y; break;
      case DimensionOperation::kMIN: r = x < y ? x : y; break;
      case DimensionOperation::kSUB: r = x - y; break;
      case DimensionOperation::kEQUAL: r = x == y; break;
      case DimensionOperation::kLESS: r = x < y; break;
      case DimensionOperation::kFLOOR_DIV: r = x / y - ((x % y != 0) && ((x < 0) != (y < 0))); break;
      case DimensionOperation::kCEIL_DIV: r = x / y + ((x % y != 0) && ((x < 0) == (y < 0))); break;
    }
    return make(r, std::to_string(r));
  }
  return make(std::nullopt, std::string(names[index]) + "(" + ExprBuilder::text(&a) + ", " + ExprBuilder::text(&b) + ")");
}

}  // namespace roipool::test
