/* bench_crc - featdb's CRC-32 (zlib's crc32_z) against the slicing-by-8
 * CRC this project carried until 786b870 (kept here, for this comparison
 * only), over 12,000 records of 16,408 bytes in memory, 7 rounds:
 *
 *   make build/bench/bench_crc && build/bench/bench_crc
 *
 * Prints each round's milliseconds and GB/s for both, and whether they
 * agree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "store/featdb.h"

static uint32_t table[8][256];

static void sliced_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		table[0][i] = c;
	}
	for (int k = 1; k < 8; k++)
		for (int i = 0; i < 256; i++)
			table[k][i] = table[0][table[k - 1][i] & 0xff] ^ (table[k - 1][i] >> 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t sliced(uint32_t crc, const uint8_t *p, size_t len)
{
	crc = ~crc;
	for (; len >= 8; len -= 8, p += 8) {
		uint32_t lo = crc ^ le32(p), hi = le32(p + 4);
		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
		      table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
		      table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
	}
	while (len--)
		crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

int main(void)
{
	const size_t rec = 16408, n = 12000;
	uint8_t *b = malloc(rec * n);
	uint32_t a = 0, z = 0;

	if (!b)
		return 1;
	sliced_init();
	for (size_t i = 0; i < rec * n; i++)
		b[i] = (uint8_t)(i * 2654435761u >> 13);
	for (int r = 0; r < 7; r++) {
		double t = cli_now();
		for (size_t i = 0; i < n; i++)
			a ^= sliced(0, b + i * rec, rec);
		double ts = cli_now() - t;
		t = cli_now();
		for (size_t i = 0; i < n; i++)
			z ^= featdb_crc32(0, b + i * rec, rec);
		double tz = cli_now() - t;
		printf("sliced-by-8 %.1f ms (%.2f GB/s)  zlib %.1f ms (%.2f GB/s)\n",
		       ts * 1e3, rec * n / ts / 1e9, tz * 1e3, rec * n / tz / 1e9);
	}
	printf("same CRCs: %s\n", a == z ? "yes" : "NO");
	free(b);
	return a != z;
}
