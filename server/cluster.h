/*
 * cluster.h: cluster mode: casusd on several machines around one replicated
 * commit log on NATS JetStream (docs/SCALING.md "Cluster mode").
 *
 * Without a "cluster" object in the config none of this runs: casusd is the
 * single LMDB node it always was.
 *
 * With one, a node starts as a follower: it applies the stream to its own
 * LMDB in order, exactly once (the stream sequence is stored in the same
 * transaction, cluster_log.h), on a thread of its own while main.c's loop
 * relays the node's sessions to the writer (relay.h). When the writer
 * lease (a key in a JetStream key-value bucket, created with compare-and-set)
 * is free and the node has applied the whole stream, it takes the lease,
 * applies whatever the stream gained meanwhile, and only then opens the
 * server like a single node does. From then on every turn's writes are
 * published as one stream entry (with the expected last sequence and the
 * lease revision as fencing number) before the turn's LMDB commit, so an ack
 * always means "in the LMDB and on a quorum of the stream". A writer that
 * cannot publish or renew its lease exits at once (code 75) without acking
 * the turn: its service manager restarts it as a follower.
 */
#ifndef CASUSD_CLUSTER_H
#define CASUSD_CLUSTER_H

#include "config.h"

#include <stddef.h>

struct server;
struct cluster;

#define CLUSTER_EXIT_STEP_DOWN 75 /* EX_TEMPFAIL: the writer gave up its role */

/* Connect, make sure the stream and the lease bucket exist, follow the log
 * into the store in cfg->data_dir until this node is the writer. 0: writer
 * (*out is the cluster context); 1: stopped by SIGTERM/SIGINT while following;
 * -1: cannot go on (why). */
int cluster_follow(const struct config *cfg, struct cluster **out, char *why, size_t whylen);

/* The writer's side, once the server's store is open: the first entry of an
 * empty stream (the whole store), the publish hook on srv->st, the lease
 * renewal thread. 0 or -1 (why). */
int cluster_writer_start(struct cluster *cl, struct server *srv, char *why, size_t whylen);

/* This process's incarnation (relay.h), written into the lease's value. */
void cluster_set_incarnation(const char *inc);
/* Ask cluster_follow to return 1 (async-signal-safe: sets a flag). */
void cluster_request_stop(void);
/* A SIGTERM/SIGINT reached cluster_follow's handler (or cluster_request_stop ran). */
int cluster_stop_requested(void);

/* Stop renewing, give the lease back (another node can take over at once),
 * disconnect, free. NULL is fine. */
void cluster_stop(struct cluster *cl, struct server *srv);

#endif
