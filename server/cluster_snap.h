/*
 * cluster_snap.h: catch-up from a snapshot in cluster mode (docs/SCALING.md
 * "Cluster mode", "Catch-up from a snapshot").
 *
 * The writer answers snapshot requests on the NATS subject
 * casus.<stream>.snap (request/reply). {"op":"open","min_seq":N} makes a
 * compact, consistent copy of its LMDB with `casusd backup` (a child
 * process: the same code, and no second LMDB environment on the live store
 * in this process) unless a copy at or after N is already on offer, and
 * answers {"id","size","digest","seq","piece"}; {"op":"piece","id","off"}
 * answers one piece (cluster_log.h "snapshots"). The copy is an unlinked
 * file held open, so nothing is left behind; at most two are kept, and one
 * not asked for in five minutes is dropped.
 *
 * A follower whose store is behind the stream's first entry fetches a
 * snapshot into DATA/snapshot.tmp/, checks its length and digest, opens it
 * to read its cluster.seq (the stream sequence it holds), and only then
 * renames it over DATA/data.mdb: the store in place is either the old one
 * or the whole new one, never a half-written file.
 */
#ifndef CASUSD_CLUSTER_SNAP_H
#define CASUSD_CLUSTER_SNAP_H

#include <nats/nats.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct csnap_provider;

/* Start answering snapshot requests for the store in data_dir. 0 or -1 (why). */
int csnap_provider_start(struct csnap_provider **out, natsConnection *nc, const char *stream, const char *data_dir,
                         size_t map_size, char *why, size_t wl);
/* Stop answering and drop every copy on offer. NULL is fine. */
void csnap_provider_stop(struct csnap_provider *p);

/* Fetch a snapshot holding at least stream sequence need and put it in
 * place of data_dir/data.mdb. The caller has closed its store. 0: in place
 * (*seq is its cluster.seq); 1: not this time, retry later (why: what
 * failed; nothing changed); -1: a local failure that retrying does not
 * mend (why). */
int csnap_fetch(natsConnection *nc, const char *stream, const char *data_dir, size_t map_size, uint64_t need,
                volatile sig_atomic_t *stop, uint64_t *seq, char *why, size_t wl);

#endif
