# Sourced by ./mtnn, ./bench.sh and ./test.sh (the container images set the same values with ENV).
# .NET: workstation GC (one process per node already uses its cores for tensors), profile-guided JIT.
export DOTNET_gcServer="${DOTNET_gcServer-0}" DOTNET_TieredPGO="${DOTNET_TieredPGO-1}"
# OpenMP (libtorch's CPU threads): idle threads sleep at once instead of spinning. A worker waiting in a collective
# for its peers otherwise keeps its cores busy spinning, and workers sharing a host took 13 s for an epoch they
# train in 0.9 s with passive waits (BENCHMARKS.md, "Two worker processes on one host").
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY-PASSIVE}"
# glibc malloc: libtorch allocates and frees tensors of megabytes every batch. By default glibc gives such blocks
# back to the kernel on free and maps fresh zeroed pages on the next allocation, one page fault per 4 KiB; keeping
# them for reuse took a Tox21 run from 75-126 s to 43 s on a 2-core VM (BENCHMARKS.md, "Memory reuse"), at the cost
# of a higher peak resident size. Values already in the environment win; MTNN_SYSTEM_MALLOC=1 keeps glibc's defaults.
if [[ "${MTNN_SYSTEM_MALLOC:-0}" != 1 ]]; then
  export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_-268435456}"
  export MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_-1073741824}"
  export MALLOC_TOP_PAD_="${MALLOC_TOP_PAD_-67108864}"
fi
