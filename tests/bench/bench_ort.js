// ONNX Runtime peer of bench_extract (Node.js, onnxruntime-node):
//   node bench_ort.js MODEL.onnx IMAGES.f32 N BATCH THREADS REPS
// Runs the model bench_torch.py exported over the N preprocessed images of
// IMAGES.f32 (N, 224, 224, 3) float32 in batches, REPS times, and prints
// "img_per_s X" (the median) and "peak_rss_mb X".  NODE_PATH must reach
// the onnxruntime-node package (bench_extract.sh installs it outside the
// repository).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
	const [model, images] = process.argv.slice(2, 4);
	const [n, batch, threads, reps] = process.argv.slice(4, 8).map(Number);
	const buf = fs.readFileSync(images);
	const all = new Float32Array(buf.buffer, buf.byteOffset, n * 224 * 224 * 3);
	const sess = await ort.InferenceSession.create(model, {
		intraOpNumThreads: threads,
		interOpNumThreads: 1,
		graphOptimizationLevel: 'all',
	});
	const per = 224 * 224 * 3;
	const run = async (b0, bn) => {
		const x = new ort.Tensor('float32', all.subarray(b0 * per, (b0 + bn) * per),
			[bn, 224, 224, 3]);
		await sess.run({ x });
	};
	await run(0, Math.min(batch, n));
	const rates = [];
	for (let r = 0; r < reps; r++) {
		const t = process.hrtime.bigint();
		for (let b0 = 0; b0 < n; b0 += batch)
			await run(b0, Math.min(batch, n - b0));
		rates.push(n / (Number(process.hrtime.bigint() - t) / 1e9));
	}
	rates.sort((a, b) => a - b);
	console.log(`img_per_s ${rates[Math.floor(reps / 2)].toFixed(3)}`);
	console.log(`peak_rss_mb ${(process.resourceUsage().maxRSS / 1024).toFixed(0)}`);
}

main().catch((e) => { console.error(`bench_ort: ${e.message}`); process.exit(1); });
