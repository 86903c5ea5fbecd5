# The five models of the engine's tables against oneDNN and the large GEMM (bench/bf16.sh,
# bench/fraction.sh), by the names hpsweep_dnnl_bench gives them: batch 128 of MNIST's shape (28
# steps of 28 features), the recurrent layer's last state -> Dense 64 tanh -> Dense 10, or the MLP
# 784 -> 512 -> 512 -> 10 (relu). Sourced, not run.
BENCH_MODELS="lstm128 gru128 rnn128 lstm32 mlp"

flags_of() {  # model name -> hpsweep bench flags for the same network as hpsweep_dnnl_bench's
  case "$1" in
    lstm128) echo "--cell lstm --units 128 --dense 64 --dense-activation tanh" ;;
    gru128) echo "--cell gru --units 128 --dense 64 --dense-activation tanh" ;;
    rnn128) echo "--cell simple_rnn --units 128 --dense 64 --dense-activation tanh" ;;
    lstm32) echo "--cell lstm --units 32 --dense 64 --dense-activation tanh" ;;
    mlp) echo "--cell dense --layers 2 --units 512 --activation relu" ;;
    *) echo "unknown model $1" >&2; exit 2 ;;
  esac
}

# model name -> the matrix-product FLOP of one training sample: every layer's forward product and
# its weight gradient, and its input's gradient except the first layer's (the engine skips it).
# A recurrent layer of H units and G gate columns over 28 steps of 28 features:
# 28 * 2 * (2*28*G + 3*H*G); then Dense 64 and Dense 10, 3 products each.
flop_of() {
  awk -v m="$1" 'function rnn(h, g) { return 28 * 2 * (2 * 28 * g + 3 * h * g) + 3 * 2 * (h * 64 + 64 * 10) }
    BEGIN {
      if (m == "lstm128") print rnn(128, 512);
      else if (m == "gru128") print rnn(128, 384);
      else if (m == "rnn128") print rnn(128, 128);
      else if (m == "lstm32") print rnn(32, 128);
      else print 2 * 2 * 784 * 512 + 3 * 2 * (512 * 512 + 512 * 10);
    }'
}
