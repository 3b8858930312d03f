/* esn_fw_ext_none.c: the extension point with no runtime linked in: everything unsupported. */
#include "esn_fw_ext.h"
#include "esn_fw_proto.h"

static int esn_fw_ext_unsupported(const esn_fw_req *r)
{
    static const char msg[] = "no runtime linked into this firmware";
    uint16_t i;
    for (i = 0; i < sizeof msg - 1 && i < r->out_cap; i++) {
        r->out[i] = (uint8_t)msg[i];
    }
    *r->out_len = i;
    return ESN_FW_ST_UNSUPPORTED;
}

uint32_t esn_fw_ext_caps(void) { return 0; }
const char *esn_fw_ext_runtime_version(void) { return "none"; }
void esn_fw_ext_init(void) {}
int esn_fw_ext_load_model(const esn_fw_req *r) { return esn_fw_ext_unsupported(r); }
int esn_fw_ext_run(const esn_fw_req *r) { return esn_fw_ext_unsupported(r); }
int esn_fw_ext_run_input(const esn_fw_req *r) { return esn_fw_ext_unsupported(r); }
int esn_fw_ext_read_counters(const esn_fw_req *r) { return esn_fw_ext_unsupported(r); }
void esn_fw_ext_reset(void) {}
