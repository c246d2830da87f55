/*
 * delay-queue: the NAT lab's delay stage.
 *
 * The lab's kernels have no netem qdisc, so packets of delayed links are
 * sent to NFQUEUE (iptables) and this program holds each one for a fixed
 * time before it accepts it. Per queue the delay is constant, so packets
 * leave in the order they came (FIFO) and one batch verdict releases every
 * packet that is due.
 *
 * Usage: delay-queue <max-held-per-queue> <queue>:<delay-us> [<queue>:<delay-us> ...]
 *
 * Prints "ready" on stdout once every queue is bound. Exits on SIGTERM,
 * SIGINT, or when its parent dies. When a queue already holds the maximum,
 * new packets of that queue are dropped (tail drop, like a router buffer).
 *
 * Build: gcc -O2 -o delay-queue delay-queue.c -lnetfilter_queue -lnfnetlink
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <libnfnetlink/libnfnetlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_QUEUES 256
/* messages read per wake-up, so that releasing due packets is never starved */
#define MAX_READS_PER_WAKE 512
/* longest sleep when nothing is due, so a stop request is seen quickly (ns) */
#define IDLE_SLEEP_NS 200000000ULL
/* netlink receive buffer (bytes): room for every held packet's message */
#define RCVBUF_BYTES (8 * 1024 * 1024)

struct held {
  uint32_t id;
  uint64_t due_ns;
};

struct queue {
  struct nfq_q_handle *qh;
  uint16_t num;
  uint64_t delay_ns;
  struct held *ring;
  uint32_t head;
  uint32_t count;
  uint32_t cap;
  uint64_t dropped;
};

static volatile sig_atomic_t stopping = 0;

static void on_signal (int sig) {
  (void) sig;
  stopping = 1;
}

static uint64_t now_ns (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int on_packet (struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
  (void) msg;
  struct queue *q = data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);

  if (ph == NULL) {
    return 0;
  }

  uint32_t id = ntohl(ph->packet_id);

  if (q->count == q->cap) {
    q->dropped++;
    nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
    return 0;
  }

  struct held *slot = &q->ring[(q->head + q->count) % q->cap];
  slot->id = id;
  slot->due_ns = now_ns() + q->delay_ns;
  q->count++;
  return 0;
}

/* accept every packet that is due; returns the time the next one is due (or 0) */
static uint64_t release_due (struct queue *queues, int n) {
  uint64_t now = now_ns();
  uint64_t next = 0;

  for (int i = 0; i < n; i++) {
    struct queue *q = &queues[i];
    uint32_t last = 0;
    int any = 0;

    while (q->count > 0 && q->ring[q->head].due_ns <= now) {
      last = q->ring[q->head].id;
      any = 1;
      q->head = (q->head + 1) % q->cap;
      q->count--;
    }
    if (any) {
      /* packet ids grow per queue: this accepts every held id <= last */
      nfq_set_verdict_batch(q->qh, last, NF_ACCEPT);
    }
    if (q->count > 0) {
      uint64_t due = q->ring[q->head].due_ns;
      if (next == 0 || due < next) {
        next = due;
      }
    }
  }

  return next;
}

int main (int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s <max-held-per-queue> <queue>:<delay-us> [...]\n", argv[0]);
    return 2;
  }

  /* die with the lab process that started us */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  long cap = strtol(argv[1], NULL, 10);
  if (cap < 1 || cap > 1000000) {
    fprintf(stderr, "max-held-per-queue must be 1..1000000\n");
    return 2;
  }

  int n = argc - 2;
  if (n > MAX_QUEUES) {
    fprintf(stderr, "at most %d queues\n", MAX_QUEUES);
    return 2;
  }

  struct queue queues[MAX_QUEUES];
  memset(queues, 0, sizeof(queues));

  struct nfq_handle *h = nfq_open();
  if (h == NULL) {
    perror("nfq_open");
    return 1;
  }
  /* needed on old kernels only; fails harmlessly on new ones */
  nfq_unbind_pf(h, AF_INET);
  if (nfq_bind_pf(h, AF_INET) < 0) {
    perror("nfq_bind_pf");
    return 1;
  }

  for (int i = 0; i < n; i++) {
    unsigned num;
    unsigned long long delay_us;
    if (sscanf(argv[i + 2], "%u:%llu", &num, &delay_us) != 2 || num > 65535 || delay_us > 60000000ULL) {
      fprintf(stderr, "bad queue spec \"%s\": want <queue>:<delay-us>\n", argv[i + 2]);
      return 2;
    }
    struct queue *q = &queues[i];
    q->num = (uint16_t) num;
    q->delay_ns = delay_us * 1000ULL;
    q->cap = (uint32_t) cap;
    q->ring = calloc((size_t) cap, sizeof(struct held));
    if (q->ring == NULL) {
      perror("calloc");
      return 1;
    }
    q->qh = nfq_create_queue(h, q->num, on_packet, q);
    if (q->qh == NULL) {
      fprintf(stderr, "nfq_create_queue %u: %s\n", num, strerror(errno));
      return 1;
    }
    if (nfq_set_mode(q->qh, NFQNL_COPY_META, 0) < 0) {
      perror("nfq_set_mode");
      return 1;
    }
    /* the kernel queue may hold a few more than we do (in-flight messages) */
    nfq_set_queue_maxlen(q->qh, (uint32_t) cap + 64);
  }

  nfnl_rcvbufsiz(nfq_nfnlh(h), RCVBUF_BYTES);
  int fd = nfq_fd(h);

  printf("ready\n");
  fflush(stdout);

  static char buf[65536] __attribute__((aligned));

  while (!stopping) {
    uint64_t next = release_due(queues, n);
    uint64_t now = now_ns();
    uint64_t wait_ns = next == 0 ? IDLE_SLEEP_NS : (next > now ? next - now : 0);
    if (wait_ns > IDLE_SLEEP_NS) {
      wait_ns = IDLE_SLEEP_NS;
    }

    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    struct timespec ts = { .tv_sec = (time_t) (wait_ns / 1000000000ULL), .tv_nsec = (long) (wait_ns % 1000000000ULL) };
    int ready = ppoll(&pfd, 1, &ts, NULL);
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      perror("ppoll");
      return 1;
    }
    if (ready == 0) {
      continue;
    }

    for (int reads = 0; reads < MAX_READS_PER_WAKE; reads++) {
      ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (len < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
          break;
        }
        if (errno == ENOBUFS) {
          /* messages were lost: those packets stay queued in the kernel
             until the queue is unbound; count it and go on */
          fprintf(stderr, "delay-queue: netlink buffer overrun\n");
          continue;
        }
        perror("recv");
        return 1;
      }
      nfq_handle_packet(h, buf, (int) len);
    }
  }

  for (int i = 0; i < n; i++) {
    if (queues[i].dropped > 0) {
      fprintf(stderr, "delay-queue: queue %u dropped %llu packets (full)\n", queues[i].num, (unsigned long long) queues[i].dropped);
    }
    nfq_destroy_queue(queues[i].qh);
  }
  nfq_close(h);
  return 0;
}
