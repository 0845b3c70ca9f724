/*
 * crashguard.h — what load-time code (the constructor, the interposers) shares with the
 * signal handler.
 *
 * Everything declared here that the handler reads is either written before the handlers
 * are installed, or published with a release store and read with an acquire load.  Tables
 * are mapped from cache files and immutable once published; docs/tables.md describes their
 * layouts in prose, docs/cache.md the files.
 */
#ifndef CRASHGUARD_H
#define CRASHGUARD_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- module registry: one entry per ELF object mapped in the process ---- */

/* The registry grows by chunks: the first is static, the others are mapped when needed (by
 * load-time code or the handler, with a raw mmap).  Lookups are linear either way. */
#define CG_MODULE_CHUNK 256
#define CG_MODULE_CHUNKS 64
#define CG_MAX_MODULES (CG_MODULE_CHUNK * CG_MODULE_CHUNKS)
#define CG_PATH_MAX 512
#define CG_BUILD_ID_MAX 32
#define CG_NOTE_MAX 160
#define CG_CONFIG_NOTE_MAX 400 /* every invalid configuration value, one note each */

/* Symbol table blob, laid out by the Go part (sigsafe/tables.go) in a cache file. */
#define CG_SYMTAB_MAGIC 0x4d595347u /* "GSYM" little-endian */
#define CG_SYMTAB_VERSION 1u

struct cg_symtab_header {
    uint32_t magic;
    uint32_t version;
    uint64_t total_size;   /* bytes of the whole blob, header included */
    uint32_t count;        /* entries in the symbol array */
    uint32_t symbols_off;  /* offset of struct cg_symbol[count], sorted by start */
    uint32_t strings_off;  /* offset of the string area (NUL-terminated names) */
    uint32_t strings_size;
};

struct cg_symbol {
    uint64_t start;    /* ELF virtual address (module offset) of the first byte */
    uint32_t size;     /* bytes; 0 = unknown size */
    uint32_t name_off; /* into the string area; names are stored demangled */
};

/* Unwind table blob: address ranges → rules (docs/tables.md). */
#define CG_UNWIND_MAGIC 0x444e5755u /* "UWND" little-endian */
#define CG_UNWIND_VERSION 1u

struct cg_unwind_header {
    uint32_t magic;
    uint32_t version;
    uint64_t total_size;
    uint32_t row_count;  /* struct cg_unwind_row[row_count] at rows_off, sorted by start */
    uint32_t rows_off;
    uint32_t rule_count; /* struct cg_unwind_rule[rule_count] at rules_off */
    uint32_t rules_off;
};

struct cg_unwind_row {
    uint32_t start; /* ELF address where this rule begins; it holds until the next row */
    uint32_t rule;  /* index into the rules */
};

enum cg_rule_kind {
    CG_RULE_INVALID = 0, /* no usable rule here: fall back to frame pointers */
    CG_RULE_CFA = 1,     /* CFA = reg + cfa_off */
    CG_RULE_CFA_DEREF = 2, /* CFA = *(reg + cfa_off) + deref_add (stack realignment) */
    CG_RULE_PLT = 3,     /* CFA = rsp + cfa_off + ((pc & 15) >= deref_add ? 8 : 0) */
    CG_RULE_SIGNAL = 4,  /* signal trampoline: a ucontext_t sits at the stack pointer */
    CG_RULE_STOP = 5,    /* return address undefined: outermost frame */
};

enum cg_fp_rule {
    CG_FP_SAME = 0,   /* the caller's frame pointer is unchanged */
    CG_FP_AT_CFA = 1, /* saved at CFA + fp_off */
    CG_FP_LOST = 2,   /* not recoverable from this frame */
};

struct cg_unwind_rule {
    uint8_t kind;
    uint8_t cfa_reg; /* DWARF register number: x86-64 7 = rsp, 6 = rbp */
    uint8_t fp_rule;
    uint8_t pad;
    int32_t cfa_off;
    int16_t fp_off;
    int16_t ra_off;  /* return address at CFA + ra_off */
    int32_t deref_add;
};

enum cg_symtab_state {
    CG_SYMTAB_PENDING = 0, /* no cache file mapped yet (the helper may still be at work) */
    CG_SYMTAB_READY = 1,   /* symtab points at a validated blob */
    CG_SYMTAB_FAILED = 2,  /* note says why there are no symbols */
};

/* Line table blob: address → file:line, and the inlined calls (docs/tables.md). */
#define CG_LINES_MAGIC 0x454e494cu /* "LINE" little-endian */
#define CG_LINES_VERSION 1u
#define CG_NONE 0xffffffffu

struct cg_lines_header {
    uint32_t magic;
    uint32_t version;
    uint64_t total_size;
    uint32_t line_count;   /* struct cg_line_row[], sorted by start */
    uint32_t lines_off;
    uint32_t inline_count; /* struct cg_inline_row[], sorted by start */
    uint32_t inlines_off;
    uint32_t rec_count;    /* struct cg_inline_rec[] */
    uint32_t recs_off;
    uint32_t file_count;   /* uint32_t name offsets into the strings */
    uint32_t files_off;
    uint32_t strings_off;
    uint32_t strings_size;
};

struct cg_line_row {
    uint32_t start; /* ELF address; holds until the next row */
    uint32_t file;  /* CG_NONE: no line information here */
    uint32_t line;
};

struct cg_inline_row {
    uint32_t start;
    uint32_t rec; /* innermost inlined call covering this range, or CG_NONE */
};

struct cg_inline_rec {
    uint32_t name_off;  /* the inlined function, demangled */
    uint32_t call_file; /* where it was called from (CG_NONE if unknown) */
    uint32_t call_line;
    uint32_t parent;    /* the inlined call this one sits in, or CG_NONE */
};

/* A module's tables.  They come from a cache file (docs/cache.md), written by the helper
 * process or `crashguard warm` and mapped by the constructor or, at a crash, by the handler;
 * each slot is published with a release store of its state. */
enum cg_table_kind { CG_TABLE_SYMBOLS, CG_TABLE_UNWIND, CG_TABLE_LINES, CG_TABLE_KINDS };

struct cg_table_slot {
    _Atomic(const void *) blob;
    uint64_t blob_len;      /* bytes the cache file's directory gives the blob: every bound
                             * the handler uses must lie within it, whatever the blob's own
                             * header claims */
    _Atomic uint32_t state; /* enum cg_symtab_state */
    char note[CG_NOTE_MAX]; /* why FAILED; written before the state */
};

struct cg_module {
    uintptr_t bias;       /* load bias: runtime address = bias + ELF vaddr */
    uintptr_t lo, hi;     /* lowest and highest+1 address of its PT_LOAD segments; hi 0: unloaded */
    uint32_t build_id_len;
    uint8_t build_id[CG_BUILD_ID_MAX];
    char path[CG_PATH_MAX];
    struct cg_table_slot tables[CG_TABLE_KINDS];
    /* The cache file the tables are mapped from: checking the whole file's checksum at
     * every start would cost more than the start itself, so the handler checks it on first
     * use (cache_state 0 unchecked, 1 good, 2 corrupt) and ignores a corrupt file's tables. */
    const uint8_t *cache_map;
    char cache_path[CG_PATH_MAX]; /* unlinked by the handler if corrupt: the next start rebuilds */
    uint64_t cache_dev, cache_ino; /* ...but only if the name still names the file we mapped */
    uint64_t cache_size;
    uint64_t cache_checksum;
    _Atomic uint32_t cache_state;
};

/* The cache file's content hash (docs/cache.md; dwarfcache.Checksum in Go). */
uint64_t cg_checksum(const uint8_t *p, uint64_t n);
#define CG_CACHE_HEADER_SIZE 64

/* Chunk pointers are published (release) before the count covers their entries. */
extern struct cg_module *_Atomic cg_module_chunks[CG_MODULE_CHUNKS];
extern _Atomic uint32_t cg_module_count;
/* Entry i (< cg_module_count, read with acquire). */
static inline struct cg_module *cg_module_at(uint32_t i) {
    return atomic_load_explicit(&cg_module_chunks[i / CG_MODULE_CHUNK], memory_order_acquire) + i % CG_MODULE_CHUNK;
}
/* The program's path (module 0), resolved on first use: the first read of /proc/self/exe in
 * a process costs ~30 us, a quarter of a warm start, and most processes never crash.
 * Async-signal-safe (readlink, or the exec'd name from the auxiliary vector). */
const char *cg_executable_path(void);

/* ---- configuration and state fixed at load time ---- */

#define CG_NSIG 65

struct cg_config {
    int report_fd;        /* our high, close-on-exec duplicate of stderr, or -1 */
    uint64_t report_dev;  /* st_dev/st_ino of report_fd when duplicated, to detect reuse */
    uint64_t report_ino;
    int max_frames;       /* frames printed per stack before eliding the middle */
    pid_t main_tid;       /* = pid of the process that ran the constructor */
    uintptr_t main_stack_lo, main_stack_hi; /* main thread's stack range incl. growth limit */
    int debug;            /* CRASHGUARD_DEBUG: explain at load what was set up (1: on stderr,
                           * 2: in the file it names) */
    int to_stderr;        /* CRASHGUARD_OUTPUT has stderr (the default) */
    int json;             /* CRASHGUARD_FORMAT=json: one JSON object per report */
    char report_file_pattern[CG_PATH_MAX]; /* CRASHGUARD_OUTPUT file:PATTERN, or "" */
    char journal_socket[108];              /* CRASHGUARD_OUTPUT journal[:SOCKET], or "" */
    int journal_root_only;                 /* AT_SECURE: the system journal, which gets the full
                                            * report only if it is root's, and nothing else */
    char minidump_pattern[CG_PATH_MAX];    /* CRASHGUARD_OUTPUT minidump:PATTERN, or "" */
    char config_note[CG_CONFIG_NOTE_MAX];  /* invalid configuration values, said in reports */
    /* The C library's sigaction: ours (sigaction_interpose.c) would keep our handler. */
    int (*sigaction)(int, const struct sigaction *, struct sigaction *);
    int armed;            /* the constructor installed the handlers: the library is on and
                           * covers this program (interposers pass through otherwise) */
};
extern struct cg_config cg_config;

extern const int cg_crash_signals[];
extern const int cg_crash_signal_count;
#define CG_NCRASH 7
/* sig's index in cg_crash_signals, or -1. */
int cg_crash_slot(int sig);

/* Each crash signal's dispositions, by slot: kept together, and for these seven signals
 * only, so that installing the handlers at every start writes one page, not six. */
struct cg_crash_disposition {
    struct sigaction prev; /* saved before ours went in: restored when we give the signal up */
    struct sigaction ours; /* our handler as installed: what a SIG_DFL request puts back */
    int held;              /* our handler is in the kernel for this signal */
};
extern struct cg_crash_disposition cg_crash_dispositions[CG_NCRASH];

/* ---- per-thread facts, set by the pthread_create interposer (initial-exec TLS) ---- */

struct cg_thread {
    uintptr_t stack_lo, stack_hi; /* the thread's stack, from pthread_getattr_np; 0 if unknown */
    uintptr_t guard_size;
    int in_handler;                /* re-entry guard */
    int handling_sig;              /* the signal being reported, for a fault inside the handler */
};
extern __thread struct cg_thread cg_self;

/* ---- the handler ---- */
void cg_signal_handler(int sig, siginfo_t *info, void *ucontext);

#endif
