/* le.h - little-endian integers in byte buffers: the one home of the reads
 * and writes that the file formats (featdb.h's records, LMDB's pages, BMP
 * headers) spell out byte by byte, so that no format depends on the host's
 * byte order or on a buffer's alignment.  p may be unaligned. */
#ifndef COMMON_BASE_LE_H
#define COMMON_BASE_LE_H

#include <stdint.h>

/* le_get16/32/64: the unsigned integer whose bytes, least significant
 * first, start at p. */
static inline uint16_t le_get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t le_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t le_get64(const uint8_t *p)
{
	return (uint64_t)le_get32(p) | (uint64_t)le_get32(p + 4) << 32;
}

/* le_put16/32: v's bytes, least significant first, into p. */
static inline void le_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

#endif
