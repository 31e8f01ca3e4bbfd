/* fc.h - VGG16's fully connected layers (fc1, fc2), Keras' Dense + ReLU.
 *
 * Letters: N batch, C inputs, K outputs.  in (N, C), kernel (C, K) as Keras
 * stores a Dense kernel, bias (K), out (N, K) = relu(in @ kernel + bias),
 * each output summed in the fixed order of kern.h's gemm: an image's output
 * is the same to the bit whatever the batch, its place in it and the threads.
 *
 * The kernel is read once per batch (fc1's is 411 MB, which makes the layer
 * memory-bound): each thread streams one slice of its columns. */
#ifndef COMMON_NET_FC_H
#define COMMON_NET_FC_H

#include "base/workers.h"
#include "kernels/kern.h"

/* fc_forward runs the layer on the kernels k, its columns shared among the
 * workers' threads.  relu: apply the ReLU. */
void fc_forward(const kern_t *k, const float *in, int N, int C,
		const float *kernel, const float *bias, int K, int relu, float *out,
		workers_t *workers);

#endif
