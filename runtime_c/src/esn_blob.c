/*
 * esn_blob.c: the blob loader (format in esn_blob.h).
 *
 * Order of checks: size and alignment of the buffer, magic, version, header size, total size,
 * CRC (over everything after the CRC field), the other header fields, the section table, the model record, the edges, the node records, then the structure of the model
 * (esn__validate_structure), then every parameter reference against the PARAMS section and the
 * element count the node's shapes imply, then parameter values and overflow bounds
 * (esn__validate_params). Every field is read with explicit little-endian byte loads, and every
 * offset computation is done in 64 bits before it is compared with the blob's size.
 */
#include <string.h>

#include "esn/esn_blob.h"
#include "esn/esn_fixedpoint.h"
#include "esn/esn_runtime.h"
#include "esn_internal.h"

static uint32_t esn_rd8(const uint8_t *p)
{
    return p[0];
}

static uint32_t esn_rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t esn_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Two's-complement int32 from its bits, without an implementation-defined conversion. */
static int32_t esn_rdi32(const uint8_t *p)
{
    const uint32_t u = esn_rd32(p);
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}

static int8_t esn_rdi8(const uint8_t *p)
{
    const uint32_t u = p[0];
    return u <= 127u ? (int8_t)u : (int8_t)(-(int32_t)(255u - u) - 1);
}

static int esn_all_zero(const uint8_t *p, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; ++i) {
        if (p[i] != 0u) {
            return 0;
        }
    }
    return 1;
}

static int esn_host_little_endian(void)
{
    const uint16_t one = 1u;
    uint8_t b;
    memcpy(&b, &one, 1u);
    return b == 1u;
}

typedef struct esn_sec_ref {
    uint32_t offset;
    uint32_t size;
    uint32_t count;
    uint8_t present;
} esn_sec_ref;

#define ESN_FAIL(s, node, value) esn__fail(&bm->diag, (s), (int32_t)(node), -1, (int64_t)(value))

static esn_status esn_read_header(esn_blob_model *bm, const uint8_t *b, uint32_t size, uint32_t *total)
{
    if (size < ESN_BLOB_HEADER_BYTES) {
        return ESN_FAIL(ESN_ERR_TRUNCATED, -1, size);
    }
    if (memcmp(b, "ESNB", 4u) != 0) {
        return ESN_FAIL(ESN_ERR_MAGIC, -1, esn_rd32(b));
    }
    bm->version = esn_rd16(b + 4);
    if (bm->version != ESN_BLOB_VERSION) { /* older layouts are refused: esn_blob.h */
        return ESN_FAIL(ESN_ERR_VERSION, -1, bm->version);
    }
    if (esn_rd16(b + 6) != ESN_BLOB_HEADER_BYTES) {
        return ESN_FAIL(ESN_ERR_HEADER, -1, esn_rd16(b + 6));
    }
    *total = esn_rd32(b + 8);
    if (*total > size) {
        return ESN_FAIL(ESN_ERR_TRUNCATED, -1, *total);
    }
    if (*total < ESN_BLOB_HEADER_BYTES || (*total & 7u) != 0u) {
        return ESN_FAIL(ESN_ERR_HEADER, -1, *total);
    }
    if (esn_crc32(0u, b + 16, *total - 16u) != esn_rd32(b + 12)) {
        return ESN_FAIL(ESN_ERR_CRC, -1, esn_rd32(b + 12));
    }
    if (esn_rd16(b + 18) != 0u || esn_rd32(b + 20) != ESN_BLOB_HEADER_BYTES || !esn_all_zero(b + 24, 24u)) {
        return ESN_FAIL(ESN_ERR_HEADER, -1, esn_rd32(b + 20));
    }
    return ESN_OK;
}

static esn_status esn_read_sections(esn_blob_model *bm, const uint8_t *b, uint32_t total, esn_sec_ref *sec)
{
    const uint32_t n = esn_rd16(b + 16);
    const uint64_t table_end = ESN_BLOB_HEADER_BYTES + (uint64_t)n * ESN_BLOB_SECTION_BYTES;
    uint64_t prev_end = (table_end + 7u) & ~(uint64_t)7u;
    uint32_t i;
    if (n < 4u || n > (uint32_t)ESN_SEC_END - 1u || table_end > total) {
        return ESN_FAIL(ESN_ERR_SECTION, -1, n);
    }
    for (i = 0u; i < n; ++i) {
        const uint8_t *e = b + ESN_BLOB_HEADER_BYTES + i * ESN_BLOB_SECTION_BYTES;
        const uint32_t type = esn_rd16(e);
        const uint32_t off = esn_rd32(e + 4);
        const uint32_t sz = esn_rd32(e + 8);
        if (type < (uint32_t)ESN_SEC_MODEL || type >= (uint32_t)ESN_SEC_END || sec[type].present ||
            esn_rd16(e + 2) != 0u) {
            return ESN_FAIL(ESN_ERR_SECTION, -1, type);
        }
        if ((off & 7u) != 0u) {
            return ESN_FAIL(ESN_ERR_ALIGN, -1, off);
        }
        if (off < prev_end || (uint64_t)off + sz > total) {
            return ESN_FAIL(ESN_ERR_SECTION, -1, off);
        }
        prev_end = (uint64_t)off + sz;
        sec[type].offset = off;
        sec[type].size = sz;
        sec[type].count = esn_rd32(e + 12);
        sec[type].present = 1u;
    }
    if (!sec[ESN_SEC_MODEL].present || !sec[ESN_SEC_NODES].present || !sec[ESN_SEC_EDGES].present ||
        !sec[ESN_SEC_PARAMS].present) {
        return ESN_FAIL(ESN_ERR_SECTION, -1, 0);
    }
    if (sec[ESN_SEC_MODEL].size != ESN_BLOB_MODEL_BYTES || sec[ESN_SEC_MODEL].count != 1u ||
        (uint64_t)sec[ESN_SEC_NODES].size != (uint64_t)sec[ESN_SEC_NODES].count * ESN_BLOB_NODE_BYTES ||
        (uint64_t)sec[ESN_SEC_EDGES].size != (uint64_t)sec[ESN_SEC_EDGES].count * ESN_BLOB_EDGE_BYTES) {
        return ESN_FAIL(ESN_ERR_SECTION, -1, 1);
    }
    return ESN_OK;
}

static esn_status esn_read_model(esn_blob_model *bm, const uint8_t *b, const esn_sec_ref *sec)
{
    const uint8_t *r = b + sec[ESN_SEC_MODEL].offset;
    esn_model *m = &bm->model;
    const uint32_t nodes = esn_rd16(r);
    const uint32_t edges = esn_rd16(r + 2);
    if (nodes != sec[ESN_SEC_NODES].count || edges != sec[ESN_SEC_EDGES].count || !esn_all_zero(r + 45, 19u)) {
        return ESN_FAIL(ESN_ERR_SECTION, -1, nodes);
    }
    if (nodes < 2u || nodes > ESN_MAX_NODES) {
        return ESN_FAIL(ESN_ERR_LIMIT, -1, nodes);
    }
    if (edges < 1u || edges > ESN_MAX_EDGES) {
        return ESN_FAIL(ESN_ERR_LIMIT, -1, edges);
    }
    m->n_nodes = (uint16_t)nodes;
    m->n_edges = (uint16_t)edges;
    m->input_node = (uint16_t)esn_rd16(r + 4);
    m->output_node = (uint16_t)esn_rd16(r + 6);
    m->weight_bits = r[8];
    m->state_bits = r[9];
    m->current_bits = r[10];
    m->adapt_bits = r[11];
    m->threshold_bits = r[12];
    m->decay_bits = r[13];
    m->rounding = r[14];
    m->exit_enabled = r[15];
    m->seed = esn_rd32(r + 16);
    m->exit_threshold_q8 = esn_rdi32(r + 20);
    m->exit_beta_q16 = esn_rdi32(r + 24);
    m->input_size = esn_rd32(r + 28);
    m->output_size = esn_rd32(r + 32);
    m->sched_steps = esn_rd32(r + 36);
    m->arena_bytes = esn_rd32(r + 40);
    m->input_bits = r[44];
    if (m->arena_bytes == 0u) { /* edgesnn plans every blob's arena (esn_model.arena_bytes) */
        return ESN_FAIL(ESN_ERR_PLAN, -1, 0);
    }
    m->nodes = bm->nodes;
    m->edges = bm->edges;
    return ESN_OK;
}

static esn_status esn_read_edges(esn_blob_model *bm, const uint8_t *b, const esn_sec_ref *sec)
{
    uint32_t seen[(ESN_MAX_EDGES + 31) / 32];
    const uint32_t n = bm->model.n_edges;
    uint32_t prev_dst = 0u;
    uint32_t i;
    memset(seen, 0, sizeof seen);
    for (i = 0u; i < n; ++i) {
        const uint8_t *r = b + sec[ESN_SEC_EDGES].offset + i * ESN_BLOB_EDGE_BYTES;
        const uint32_t dst = esn_rd16(r + 2);
        const uint32_t orig = esn_rd16(r + 6);
        if (dst >= bm->model.n_nodes || dst < prev_dst || orig >= n || (seen[orig / 32u] >> (orig % 32u)) & 1u ||
            r[4] > 1u || r[5] != 0u) {
            return esn__fail(&bm->diag, ESN_ERR_EDGE, (int32_t)dst, (int32_t)i, orig);
        }
        seen[orig / 32u] |= 1u << (orig % 32u);
        prev_dst = dst;
        bm->edges[i].src = (uint16_t)esn_rd16(r);
        bm->edges[i].back = r[4];
        bm->edges[i].reserved = 0u;
    }
    return ESN_OK;
}

static esn_status esn_read_nodes(esn_blob_model *bm, const uint8_t *b, const esn_sec_ref *sec)
{
    uint32_t k;
    uint32_t a;
    for (k = 0u; k < bm->model.n_nodes; ++k) {
        const uint8_t *r = b + sec[ESN_SEC_NODES].offset + k * ESN_BLOB_NODE_BYTES;
        esn_node *nd = &bm->nodes[k];
        uint32_t e;
        nd->kind = (uint8_t)esn_rd8(r);
        nd->reset = r[1];
        nd->spike_rule = r[2];
        nd->syn_delay = r[3];
        nd->max_spikes = (uint16_t)esn_rd16(r + 4);
        nd->first_edge = (uint16_t)esn_rd16(r + 6);
        nd->n_edges = (uint16_t)esn_rd16(r + 8);
        nd->in_rank = r[10];
        nd->out_rank = r[11];
        nd->flat_start = esn_rdi8(r + 12);
        nd->flat_end = esn_rdi8(r + 13);
        nd->layout = r[14]; /* checked by esn__validate_structure */
        nd->flags = r[15];
        for (a = 0u; a < ESN_MAX_RANK; ++a) {
            nd->in_shape[a] = esn_rd32(r + 16 + 4 * a);
            nd->out_shape[a] = esn_rd32(r + 32 + 4 * a);
        }
        nd->in_size = esn_rd32(r + 48);
        nd->out_size = esn_rd32(r + 52);
        for (a = 0u; a < 2u; ++a) {
            nd->kernel[a] = (uint16_t)esn_rd16(r + 56 + 2 * a);
            nd->stride[a] = (uint16_t)esn_rd16(r + 60 + 2 * a);
            nd->pad[a] = (uint16_t)esn_rd16(r + 64 + 2 * a);
            nd->dil[a] = (uint16_t)esn_rd16(r + 68 + 2 * a);
        }
        nd->groups = esn_rd32(r + 72);
        nd->out_bits = r[77]; /* checked by esn__validate_params */
        if (r[76] > 127u || r[79] != 0u) { /* binary weights' magnitude (esn_node.wmag), else 0; a reserved byte */
            return ESN_FAIL(ESN_ERR_ENUM, k, esn_rd32(r + 76));
        }
        nd->wmag = r[76];
        nd->acc_shift = r[78]; /* checked by esn__validate_structure */
        nd->buf_off[0] = esn_rd32(r + 212); /* the memory plan, checked by esn__check_plan */
        nd->buf_off[1] = esn_rd32(r + 216);
        nd->state_off = esn_rd32(r + 220);
        for (a = 0u; a < ESN_P_COUNT; ++a) { /* the arrays' storage; where they lie: esn_read_params */
            const uint8_t *ref = r + 80u + ESN_BLOB_PARAM_REF_BYTES * a;
            nd->param[a] = NULL;
            nd->pbits[a] = ref[8];
            nd->pmode[a] = ref[9];
            if (esn_rd16(ref + 10) != 0u || (esn_rd32(ref + 4) == 0u && (ref[8] != 0u || ref[9] != 0u))) {
                return ESN_FAIL(ESN_ERR_PARAM, k, a);
            }
        }
        /* the edges of node k are exactly those whose destination is k */
        if ((uint32_t)nd->first_edge + nd->n_edges > bm->model.n_edges) {
            return ESN_FAIL(ESN_ERR_EDGE, k, nd->first_edge);
        }
        for (e = nd->first_edge; e < (uint32_t)nd->first_edge + nd->n_edges; ++e) {
            if (esn_rd16(b + sec[ESN_SEC_EDGES].offset + e * ESN_BLOB_EDGE_BYTES + 2) != k) {
                return esn__fail(&bm->diag, ESN_ERR_EDGE, (int32_t)k, (int32_t)e, k);
            }
        }
    }
    return ESN_OK;
}

static esn_status esn_read_params(esn_blob_model *bm, const uint8_t *b, const esn_sec_ref *sec)
{
    const uint64_t lo = sec[ESN_SEC_PARAMS].offset;
    const uint64_t hi = lo + sec[ESN_SEC_PARAMS].size;
    uint32_t arrays = 0u;
    uint32_t k;
    uint32_t slot;
    for (k = 0u; k < bm->model.n_nodes; ++k) {
        const uint8_t *r = b + sec[ESN_SEC_NODES].offset + k * ESN_BLOB_NODE_BYTES + 80;
        esn_node *nd = &bm->nodes[k];
        for (slot = 0u; slot < ESN_P_COUNT; ++slot) {
            const uint32_t off = esn_rd32(r + ESN_BLOB_PARAM_REF_BYTES * slot);
            const uint32_t cnt = esn_rd32(r + ESN_BLOB_PARAM_REF_BYTES * slot + 4);
            uint64_t bytes;
            if (cnt == 0u) {
                if (off != 0u) {
                    return ESN_FAIL(ESN_ERR_PARAM, k, slot);
                }
                continue;
            }
            /* bits and mode were checked with the structure; the count is what they imply */
            if (cnt != esn__param_stored(nd, slot)) {
                return ESN_FAIL(ESN_ERR_PARAM, k, cnt);
            }
            if ((off & 7u) != 0u) {
                return ESN_FAIL(ESN_ERR_ALIGN, k, off);
            }
            nd->param[slot] = (const void *)(b + off);
            bytes = esn__param_bytes(nd, slot);
            if (off < lo || (uint64_t)off + bytes > hi) {
                nd->param[slot] = NULL;
                return ESN_FAIL(ESN_ERR_PARAM, k, off);
            }
            ++arrays;
        }
    }
    return arrays == sec[ESN_SEC_PARAMS].count ? ESN_OK : ESN_FAIL(ESN_ERR_SECTION, -1, arrays);
}

esn_status esn_blob_load(esn_blob_model *bm, const void *blob, uint32_t size)
{
    const uint8_t *b = (const uint8_t *)blob;
    esn_sec_ref sec[ESN_SEC_END];
    uint32_t total = 0u;
    if (bm == NULL) {
        return ESN_ERR_NULL;
    }
    memset(bm, 0, sizeof *bm);
    bm->diag.node = -1;
    bm->diag.edge = -1;
    if (blob == NULL) {
        return ESN_FAIL(ESN_ERR_NULL, -1, 0);
    }
    if (!esn_host_little_endian()) {
        return ESN_FAIL(ESN_ERR_ENDIAN, -1, 0);
    }
    if (((uintptr_t)blob & 7u) != 0u) {
        return ESN_FAIL(ESN_ERR_ALIGN, -1, 0);
    }
    memset(sec, 0, sizeof sec);
    ESN_CHECK(esn_read_header(bm, b, size, &total));
    ESN_CHECK(esn_read_sections(bm, b, total, sec));
    ESN_CHECK(esn_read_model(bm, b, sec));
    ESN_CHECK(esn_read_edges(bm, b, sec));
    ESN_CHECK(esn_read_nodes(bm, b, sec));
    ESN_CHECK(esn__validate_structure(&bm->model, &bm->diag));
    ESN_CHECK(esn_read_params(bm, b, sec));
    ESN_CHECK(esn__validate_params(&bm->model, &bm->diag));
    bm->diag.node = -1;
    bm->diag.edge = -1;
    bm->diag.value = 0;
    return ESN_OK;
}
