{
  "variables": {
    "r4p_version": "<!(node -p \"require('./package.json').version\")"
  },
  "target_defaults": {
    "include_dirs": [
      "native",
      "<!(node -p \"require('node-addon-api').include_dir\")"
    ],
    "defines": [
      "NAPI_VERSION=8",
      "NAPI_CPP_EXCEPTIONS",
      "NODE_ADDON_API_DISABLE_DEPRECATED",
      "R4P_VERSION=\"<(r4p_version)\"",
      "R4P_BUILD_SYSTEM=\"node-gyp\""
    ],
    "cflags": [
      "-fPIC",
      "-O3",
      "-fno-math-errno"
    ],
    "cflags!": [
      "-fno-exceptions"
    ],
    "cflags_cc": [
      "-std=c++17",
      "-fexceptions",
      "-O3",
      "-fno-math-errno"
    ],
    "cflags_cc!": [
      "-fno-exceptions",
      "-fno-rtti",
      "-std=gnu++17",
      "-std=gnu++20"
    ]
  },
  "targets": [
    {
      "target_name": "reg4pru_avx2",
      "type": "static_library",
      "cflags_cc": [
        "-mavx2",
        "-mfma",
        "-mf16c"
      ],
      "sources": [
        "native/kernels/cpu/attention_core_avx2.cc",
        "native/kernels/cpu/binary_avx2.cc",
        "native/kernels/cpu/depthwise_avx2.cc",
        "native/kernels/cpu/engine_layers_avx2.cc",
        "native/kernels/cpu/gather_tokens_avx2.cc",
        "native/kernels/cpu/gemm_avx2.cc",
        "native/kernels/cpu/gumbel_softmax_st_avx2.cc",
        "native/kernels/cpu/gumbel_topk_avx2.cc",
        "native/kernels/cpu/pointwise_avx2.cc",
        "native/kernels/cpu/policy_attention_avx2.cc",
        "native/kernels/cpu/pruned_block_avx2.cc",
        "native/kernels/cpu/scatter_tokens_avx2.cc",
        "native/kernels/cpu/softmax_avx2.cc",
        "native/kernels/cpu/tome_block_avx2.cc",
        "native/kernels/cpu/upscale_block_avx2.cc",
        "native/kernels/cpu/vit_block_avx2.cc"
      ]
    },
    {
      "target_name": "reg4pru_avx512",
      "type": "static_library",
      "cflags_cc": [
        "-mavx2",
        "-mfma",
        "-mf16c",
        "-mavx512f",
        "-mavx512bw",
        "-mavx512dq",
        "-mavx512vl",
        "-mavx512bf16",
        "-Wno-maybe-uninitialized"
      ],
      "sources": [
        "native/kernels/cpu/attention_core_avx512.cc",
        "native/kernels/cpu/attention_core_bf16_avx512.cc",
        "native/kernels/cpu/engine_layers_avx512.cc",
        "native/kernels/cpu/gemm_avx512.cc",
        "native/kernels/cpu/pointwise_avx512.cc"
      ]
    },
    {
      "target_name": "reg4pru",
      "dependencies": [
        "reg4pru_avx2",
        "reg4pru_avx512"
      ],
      "sources": [
        "native/engine/config.cc",
        "native/engine/cuda_decode.cc",
        "native/engine/cuda_engine.cc",
        "native/engine/cuda_workspace.cc",
        "native/engine/decode.cc",
        "native/engine/forward.cc",
        "native/engine/json.cc",
        "native/engine/layers.cc",
        "native/engine/model.cc",
        "native/engine/packed_weights.cc",
        "native/engine/policy.cc",
        "native/engine/tome_hook.cc",
        "native/engine/workspace.cc",
        "native/kernels/cuda_attention_none.cc",
        "native/kernels/cuda_engine_layers_none.cc",
        "native/kernels/cuda_runtime_none.cc",
        "native/kernels/optimizer_step.cc",
        "native/kernels/ref/binary_ref.cc",
        "native/kernels/ref/block_parts_ref.cc",
        "native/kernels/ref/depthwise_ref.cc",
        "native/kernels/ref/gather_tokens_ref.cc",
        "native/kernels/ref/gemm_ref.cc",
        "native/kernels/ref/gumbel_softmax_st_ref.cc",
        "native/kernels/ref/gumbel_topk_ref.cc",
        "native/kernels/ref/pointwise_ref.cc",
        "native/kernels/ref/policy_attention_ref.cc",
        "native/kernels/ref/pruned_block_ref.cc",
        "native/kernels/ref/scatter_tokens_ref.cc",
        "native/kernels/ref/softmax_ref.cc",
        "native/kernels/ref/tome_block_ref.cc",
        "native/kernels/ref/upscale_block_ref.cc",
        "native/kernels/ref/vit_block_ref.cc",
        "native/kernels/registry.cc",
        "native/napi/addon.cc",
        "native/napi/binary.cc",
        "native/napi/block_weights.cc",
        "native/napi/convert.cc",
        "native/napi/cuda_args.cc",
        "native/napi/cuda_attention_ops.cc",
        "native/napi/cuda_token_ops.cc",
        "native/napi/depthwise.cc",
        "native/napi/device_tensor.cc",
        "native/napi/engine_wrap.cc",
        "native/napi/gather_tokens.cc",
        "native/napi/gemm.cc",
        "native/napi/gumbel_softmax_st.cc",
        "native/napi/gumbel_topk.cc",
        "native/napi/info.cc",
        "native/napi/optimizer_step.cc",
        "native/napi/pointwise.cc",
        "native/napi/policy_attention.cc",
        "native/napi/pruned_block.cc",
        "native/napi/scatter_tokens.cc",
        "native/napi/softmax.cc",
        "native/napi/tome_block.cc",
        "native/napi/upscale_block.cc",
        "native/napi/vit_block.cc",
        "native/runtime/cpu_features.cc",
        "native/runtime/cuda_info_none.cc",
        "native/runtime/scratch.cc",
        "native/runtime/thread_pool.cc"
      ]
    }
  ]
}
