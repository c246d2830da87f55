/**
 * Every tunable default of the package, with its unit and the reason for its
 * value. Sections follow the layers in src/.
 */

// ---------------------------------------------------------------------------
// socket layer
// ---------------------------------------------------------------------------

/**
 * First byte of every datagram this package sends outside UDX streams, by
 * family. None collides with UDX (0xFF) or STUN (first two bits 00, so 0x00 to
 * 0x3F): the demultiplexer can route on byte 0 alone.
 */
export const DATAGRAM_MAGIC_HANDSHAKE = 0xA6

/** First two bytes of a UDX packet (magic 0xFF, version 0x01) */
export const UDX_HEADER_MAGIC = 0xFF
export const UDX_HEADER_VERSION = 0x01

/**
 * Kernel receive/send buffer for each UDX socket, in bytes. The Linux
 * default (208 KiB) overflows at a few hundred Mbit/s with UDX's 1.2 KB
 * packets and a burst of acks; 2 MiB keeps kernel drops near zero on
 * loopback without pinning much memory (the kernel caps it at rmem_max).
 */
export const SOCKET_BUFFER_SIZE = 2 * 1024 * 1024

/**
 * Fresh sockets (NAT allocation samples, filtering tests, birthday sockets)
 * avoid local ports closed within this many ms: NAT bindings live 30 s to a
 * few minutes, and a port-preserving NAT would hand the new socket the old
 * socket's mapping and open filters, making a restrictive NAT look open.
 */
export const RECENT_PORT_MEMORY_MS = 5 * 60_000
/** How many closed ports are remembered (about 1 KiB of memory per 64) */
export const RECENT_PORT_MAX = 4_096
/** Rebinds tried when the kernel hands back a recently closed port */
export const RECENT_PORT_RETRIES = 8

// ---------------------------------------------------------------------------
// transport layer
// ---------------------------------------------------------------------------

/**
 * The multiaddr protocol code for `udx`, from the multicodec private-use
 * range (0x300000 to 0x3FFFFF) because udx has no registered code. It has no
 * address part: `/ip4/<ip>/udp/<port>/udx`.
 */
export const UDX_PROTOCOL_CODE = 0x300DC0
export const UDX_PROTOCOL_NAME = 'udx'

/**
 * Handshake retransmission: first retransmit after this many ms, doubling
 * each time up to HANDSHAKE_MAX_RTO. 250 ms is under a typical internet RTT
 * ×2 and far above loopback, so a lost OPEN costs little and a slow path does
 * not get flooded.
 */
export const HANDSHAKE_INITIAL_RTO = 250
/** Cap of the doubling retransmission timeout, in ms */
export const HANDSHAKE_MAX_RTO = 2_000

/**
 * How long a dial waits for the listener's ACCEPT before giving up, in ms.
 * Shorter than libp2p's per-address dial timeout (about 6 s) so the caller
 * gets our clear "nothing answered" error instead of a generic timeout;
 * covers 5 retransmissions (0.25 + 0.5 + 1 + 2 + 2 s).
 */
export const HANDSHAKE_TIMEOUT = 5_000

/**
 * Half-open connections a listener keeps (OPEN answered, first stream data
 * not yet seen). Bounded like a SYN backlog: from HANDSHAKE_COOKIE_THRESHOLD
 * of it on, OPENs without a valid cookie get a stateless RETRY; an OPEN with a
 * valid cookie that finds the table full evicts the oldest entry, one without
 * a cookie first (docs/PROTOCOL.md section 11).
 */
export const HANDSHAKE_MAX_HALF_OPEN = 256

/**
 * How long a listener keeps a half-open entry, in ms. The dialer sends its
 * first stream data (the Noise initiator message) right after ACCEPT, so a
 * live dialer promotes its entry within one RTT; this bounds what junk costs.
 */
export const HANDSHAKE_HALF_OPEN_TIMEOUT = 5_000

/**
 * Minimum size of an OPEN datagram, in bytes. The listener's answer (ACCEPT)
 * is smaller, so the handshake cannot be used to amplify traffic towards a
 * spoofed source address.
 */
export const HANDSHAKE_OPEN_SIZE = 64

/**
 * Half-open entries one source may hold in a listener's table, in entries,
 * counted apart for OPENs with and without a valid cookie. A source is an
 * IPv4 address or the /64 prefix of an IPv6 address (what one subscriber
 * gets). An honest dialer's entry lives about one RTT, so 8 covers several
 * hosts behind one NAT dialing at once, while one flooding source holds 8 of
 * the 256 slots (HANDSHAKE_MAX_HALF_OPEN), not all of them. Counting
 * cookie-verified entries apart means OPENs spoofed from a victim's address
 * cannot use up the victim's own quota.
 */
export const HANDSHAKE_MAX_HALF_OPEN_PER_SOURCE = 8

/**
 * Fill level of the half-open table, as a fraction of
 * HANDSHAKE_MAX_HALF_OPEN, from which an OPEN without a valid cookie gets a
 * stateless RETRY instead of an entry (the SYN-cookie mode). Half the table
 * keeps the extra round trip away from a normal load and leaves the other
 * half for dialers that proved their address.
 */
export const HANDSHAKE_COOKIE_THRESHOLD = 0.5

/**
 * Length of a handshake cookie's time bucket, in ms. A cookie verifies in
 * the bucket it was minted in and the next one, so it lives 4 to 8 s: more
 * than a dialer's whole handshake (HANDSHAKE_TIMEOUT, 5 s) after the RETRY
 * that carried it, and short enough that a captured cookie is soon useless.
 */
export const HANDSHAKE_COOKIE_BUCKET_MS = 4_000

/**
 * How long one cookie secret mints new cookies, in ms; the one before it
 * still verifies. Secrets are random, per listener and never leave the
 * process: rotating bounds what a leaked secret (a core dump, a debugger)
 * is worth, and 10 minutes makes a rotation rare next to the cookie's 4-8 s.
 */
export const HANDSHAKE_COOKIE_SECRET_LIFETIME_MS = 10 * 60_000

/**
 * Size of a handshake cookie, in bytes: a 4-byte time bucket and the first
 * 16 bytes of an HMAC-SHA256 (128 bits: forging one takes 2^128 guesses).
 * RETRY is 20 + 20 = 40 bytes, less than the 64-byte OPEN it answers.
 */
export const HANDSHAKE_COOKIE_SIZE = 20

/**
 * RETRYs a dialer answers at once with a new OPEN, per dial. More RETRYs
 * only refresh the cookie that the next scheduled retransmission carries,
 * so a forged or replayed RETRY stream cannot make a dialer send faster than
 * its retransmission schedule; 3 covers a cookie that expired once during a
 * slow handshake.
 */
export const HANDSHAKE_MAX_RETRY_RESENDS = 3

/**
 * UDX keepalive of every connection's stream, in ms (the `keepaliveInterval`
 * default). An idle UDX stream sends a 20-byte heartbeat this often and the
 * peer acknowledges it, so a live idle connection receives at least two
 * datagrams per interval (the peer's heartbeat and the ack of ours): that is
 * what the dead timer below watches. 1 s costs 2 datagrams of 48 bytes (IP
 * and UDP headers included) per second each way per idle connection, about
 * 100 B/s, and keeps every NAT binding fresh (the shortest common UDP
 * binding timeout is 30 s). Tailscale pings its best path every 3 s
 * (heartbeatInterval); ours is shorter because the dead timeout is too.
 *
 * A connection with a path key also sends a 40-byte path challenge per
 * interval (twice per interval while the path is quiet) and answers the
 * peer's: 2 more datagrams of 68 bytes per second each way. The challenge
 * leaves through our NAT, so when the NAT moves us to a new public port the
 * peer sees it within one interval and migrates.
 */
export const STREAM_KEEPALIVE = 1_000

/**
 * How long a connection may hear nothing from its peer before it is closed
 * with PathDeadError, in ms (the `pathDeadTimeout` default). Nothing means no
 * UDX packet of the connection's stream (data, ack, heartbeat) and no
 * verified path response. 5 s is five keepalive intervals, so a live path
 * must lose about ten datagrams in a row to be judged dead (with 10% loss on
 * each of four NAT uplinks, about 1 in 10^6 idle periods), and it is close to
 * tailscale's trust window for a direct path (trustUDPAddrDuration, 6.5 s)
 * and to QUIC's idle timeouts of a few PTOs, while UDX alone needs about 13 s
 * (six retransmission timeouts) and never notices on an idle stream.
 */
export const PATH_DEAD_TIMEOUT = 5_000

/**
 * Longest interval between two health checks of a connection, in ms: a
 * check reads the stream's received-packet counter (no I/O). A dead path is
 * reported between PATH_DEAD_TIMEOUT and PATH_DEAD_TIMEOUT plus two checks
 * after its last datagram. Shorter dead timeouts check every tenth of it,
 * never more often than every 20 ms.
 */
export const PATH_HEALTH_TICK = 500

/**
 * First byte of a path datagram (path challenge and response, see
 * src/transport/path-message.ts). 0xA8 has the top bits 10, like the
 * handshake (0xA6) and the punch probes (0xA7), so it is neither STUN (00)
 * nor UDX (0xFF).
 */
export const DATAGRAM_MAGIC_PATH = 0xA8

/** Path datagram format version (byte 1) */
export const PATH_VERSION = 1

/**
 * Size of every path datagram, in bytes: 4 header + 4 + 4 stream ids + 4
 * sequence + 8 nonce + 16 tag. A response is exactly as large as the
 * challenge it answers: no amplification.
 */
export const PATH_DATAGRAM_SIZE = 40

/**
 * Bytes of HMAC-SHA256 kept in a path datagram: 128 bits, one guess per
 * datagram for a forger
 */
export const PATH_TAG_LENGTH = 16

/**
 * Shortest path key accepted, in bytes (128 bits). The hole-punch service
 * derives a 32-byte key from the punch session secret.
 */
export const PATH_KEY_MIN_LENGTH = 16

/**
 * Path datagrams one connection may send per second (challenges, responses
 * and validation challenges together), and the burst. A peer cannot make us
 * send more than this, however many challenges it sends; honest traffic is
 * about 2-4 per second.
 */
export const PATH_SEND_RATE = 8
export const PATH_SEND_BURST = 8

/**
 * Path datagrams one socket verifies per second (one HMAC each), over all
 * its connections, and the burst. Datagrams naming an unknown connection are
 * dropped before any MAC is computed; this caps what forged datagrams for a
 * known connection cost.
 */
export const PATH_VERIFY_RATE = 500
export const PATH_VERIFY_BURST = 500

/**
 * Challenges of one connection waiting for their response; the oldest is
 * forgotten first. Answers arrive within one RTT, so 8 covers several
 * seconds of challenges on a quiet path.
 */
export const PATH_MAX_OUTSTANDING = 8

/**
 * Width of the anti-replay window over the peer's challenge numbers, in
 * challenges (IPsec's default): a challenge is accepted once, and only if
 * it is among the newest PATH_REPLAY_WINDOW numbers seen
 */
export const PATH_REPLAY_WINDOW = 64

/**
 * Migrations one connection may make per minute. A genuine NAT rebinding
 * needs one; the cap bounds flapping between two addresses that both answer.
 */
export const PATH_MAX_MIGRATIONS_PER_MINUTE = 6

/**
 * How long closing a connection waits for the remote to finish its side
 * before the stream is destroyed, in ms
 */
export const CONNECTION_CLOSE_TIMEOUT = 5_000

// ---------------------------------------------------------------------------
// nat layer
// ---------------------------------------------------------------------------

/**
 * STUN initial retransmission timeout, in ms (RFC 8489 section 6.2.1
 * recommends 500 ms); it doubles after every retransmission
 */
export const STUN_RTO = 500

/**
 * How many times a STUN request is sent before the transaction fails. RFC
 * 8489 uses Rc = 7 (39.5 s in total), sized for a client that has nothing
 * else to try. NAT discovery asks several servers and repeats itself, so it
 * gives up sooner: 4 sends at 0, 0.5, 1.5 and 3.5 s, then a last wait of 4 s
 * (7.5 s in total). Losing all 4 requests or responses at 5% loss happens
 * about once in 10^4 transactions.
 */
export const STUN_MAX_TRANSMISSIONS = 4

/**
 * Transmissions of the RFC 5780 filtering tests (CHANGE-REQUEST). A timeout
 * is their normal negative answer, so a shorter schedule (0, 0.5, 1.5 s, fail
 * at 3.5 s) keeps discovery quick; a lost answer only makes us assume the
 * more restrictive filtering, which is the safe error.
 */
export const STUN_FILTERING_TEST_TRANSMISSIONS = 3

/**
 * Lowest retransmission timeout, in ms, when the RTO comes from a measured
 * round-trip time (see STUN_RTT_RTO_FACTOR). 100 ms keeps a scheduling
 * hiccup of a busy host from looking like loss; it also bounds what a
 * filtering test costs on a fast path: 3 sends at 0, 100 and 300 ms, a
 * timeout after 700 ms.
 */
export const STUN_MIN_RTO = 100

/**
 * After a first answer from a server, follow-up requests of the same
 * discovery run (the RFC 5780 tests) use RTO = this factor x that answer's
 * RTT, between STUN_MIN_RTO and the client's RTO. 3 is RFC 6298 with one
 * sample (SRTT + 4 x RTTVAR = R + 4 x R/2); RFC 8489 section 6.2.1 lets the
 * RTO follow the measured RTT, with 1 ms accuracy. This is what makes a
 * refresh cheap: the filtering tests, whose timeout is a normal answer, wait
 * 7 x RTO instead of 3.5 s.
 */
export const STUN_RTT_RTO_FACTOR = 3

/**
 * New STUN transactions per second, process-wide (retransmissions are not
 * counted). RFC 5780 section 4 asks clients not to send more than 10 new
 * transactions per second to a server; we space them 100 ms apart.
 */
export const STUN_MAX_TRANSACTIONS_PER_SECOND = 10

/**
 * Our STUN requests are padded to this many bytes. The largest answer our
 * binding server gives (IPv6 XOR-MAPPED-ADDRESS, RESPONSE-ORIGIN and
 * OTHER-ADDRESS, FINGERPRINT) is 100 bytes, and the server never answers
 * with more bytes than the request carried (no amplification).
 */
export const STUN_REQUEST_PAD_TO = 100

/**
 * Binding requests our STUN server answers per source IP: a sustained rate
 * per second and a burst. A discovery run sends about 6 requests per server,
 * so 20 lets a full run through at once; 10/s is far above any honest client
 * and caps what one spoofed source costs us.
 */
export const STUN_SERVER_PER_IP_RATE = 10
export const STUN_SERVER_PER_IP_BURST = 20

/**
 * Binding requests our STUN server answers in total, per second and as a
 * burst: the budget a flood of spoofed sources can consume. Answers are at
 * most as large as requests, so this also bounds what we reflect.
 */
export const STUN_SERVER_GLOBAL_RATE = 500
export const STUN_SERVER_GLOBAL_BURST = 1_000

/**
 * Source IPs the STUN server's per-IP rate limiter remembers. When full, the
 * least recently seen IP is forgotten, so memory stays bounded (about 100 B
 * per entry) under a spoofed-source flood; the global limit still applies.
 */
export const STUN_SERVER_MAX_TRACKED_IPS = 4_096

/**
 * Prefix length, in bits, that the STUN server's per-source limit counts an
 * IPv6 source by (an IPv4 source counts by its address). An end site gets
 * a /64 or more (RFC 6177), so one client can send from 2^64 addresses: per
 * address, it would get 2^64 budgets; per /64, one.
 */
export const STUN_SERVER_IPV6_SOURCE_PREFIX = 64

/**
 * Observations older than this are ignored by the classifier, in ms. NAT
 * behaviour rarely changes, but the public mapping does when the network
 * changes, and an idle mapping expires after 30 s to a few minutes.
 * 10 minutes keeps a periodic re-discovery (every few minutes) in range.
 */
export const NAT_OBSERVATION_MAX_AGE = 10 * 60_000

/**
 * Fewest fresh mappings (new NAT ports made in quick succession) before the
 * classifier names a port allocation; fewer gives `unknown`. 3 samples give
 * 2 deltas, as hyperdht requires.
 */
export const NAT_ALLOCATION_MIN_SAMPLES = 3

/**
 * Largest step between consecutive new mappings, in ports, that counts as a
 * sequential allocation delta. Real sequential NATs use 1 (sometimes 2 or 4
 * for port parity/pairing); larger steps are indistinguishable from random
 * with few samples.
 */
export const NAT_ALLOCATION_MAX_DELTA = 16

/**
 * A gap of up to this many deltas between consecutive samples still counts
 * as sequential: other hosts behind the same NAT take ports between our
 * samples. The exact-delta fraction becomes the reliability.
 */
export const NAT_ALLOCATION_MAX_SKIP = 8

/**
 * Fraction of the deltas that must be (multiples of) the allocation delta, or
 * of the samples that must keep the local port, before the classifier calls
 * the allocation sequential or preserving; otherwise it is random.
 */
export const NAT_ALLOCATION_MIN_CONSISTENT = 0.75

/**
 * Two mappings further apart than this, in ms, are not compared for the port
 * delta: other hosts behind the NAT take ports in the meantime.
 */
export const NAT_ALLOCATION_MAX_SAMPLE_GAP = 5_000

/**
 * Fraction of observers of one socket that must agree on its mapping for the
 * classifier to call it endpoint-independent despite disagreeing outliers (a
 * stale or lying observer)
 */
export const NAT_EIM_MAJORITY = 2 / 3

/** Most public addresses a NatProfile lists, most recent first */
export const NAT_MAX_PUBLIC_ADDRESSES = 8

/**
 * Fresh sockets that NAT discovery binds for port-allocation samples, when
 * the caller lets it bind sockets. Each makes exactly one new NAT mapping (one
 * request to a server), in a burst of consecutive 100 ms pacing slots. 5
 * samples give 4 deltas: one lost or out-of-turn sample still leaves 3 of 4
 * (the NAT_ALLOCATION_MIN_CONSISTENT share) to name a sequential delta, and
 * the burst costs 0.5 s of the 10/s pacing budget.
 */
export const NAT_ALLOCATION_FRESH_SOCKETS = 5

/**
 * How long NAT discovery waits for the DNS lookup of a STUN server's host
 * name, in ms. getaddrinfo cannot be cancelled and, with an unreachable
 * resolver, takes 5 s or more per attempt; a refresh must not wait that
 * long for one name, so the name is skipped (and logged) for this run and
 * looked up again at the next. Lookups usually answer from a cache in
 * milliseconds.
 */
export const NAT_DNS_TIMEOUT_MS = 2_000

/**
 * Addresses of the socket's family that NAT discovery keeps from one STUN
 * host name. Two addresses of one name (a pool, or a server with two IPs)
 * are two observers, which is what the mapping verdict needs; more only add
 * transactions.
 */
export const NAT_DNS_MAX_ADDRESSES_PER_NAME = 2

/**
 * Distinct STUN server addresses one NAT discovery run uses (configured
 * ones and those found among connected peers, after DNS, in the order
 * given; the rest are left out). A plain server costs one transaction, an
 * RFC 5780 one up to 6 (test I, two filtering tests on a fresh socket, the
 * mapping tests to addresses not asked yet), at 10 per second, plus the 5
 * allocation samples: a relay's four RFC 5780 addresses plus two more
 * servers take about 2 s of pacing slots, and two servers (or one with two
 * ports) already give the mapping verdict.
 */
export const NAT_MAX_STUN_SERVERS = 6

// ---------------------------------------------------------------------------
// punch layer
// ---------------------------------------------------------------------------

/**
 * Length of a punch session id, in bytes. 64 random bits: sessions live for
 * seconds and a collision only makes a probe fail authentication.
 */
export const SESSION_ID_LENGTH = 8

/**
 * Length of the per-session probe MAC key, in bytes (the HMAC-SHA256 block
 * size is larger, the output size is 32: a 256-bit key is the usual choice)
 */
export const SESSION_SECRET_LENGTH = 32

/**
 * First byte of a probe datagram. 0xA7 has the top bits 10, so it is neither
 * STUN (00) nor UDX (0xFF) nor the transport handshake (0xA6).
 */
export const PROBE_MAGIC = 0xA7

/** Probe datagram format version (byte 1) */
export const PROBE_VERSION = 1

/**
 * Bytes of HMAC-SHA256 kept in a probe. 128 bits: an attacker gets one guess
 * per datagram during a session of seconds.
 */
export const PROBE_TAG_LENGTH = 16

/**
 * Size of every probe datagram, in bytes: 4 header + 8 session id + 4
 * sequence + 4 timestamp + 16 tag. Small enough for any MTU, and the same
 * size for probes and acks so an ack never amplifies.
 */
export const PROBE_SIZE = 36

/**
 * The external port range a NAT allocates from, inclusive. Linux masquerade
 * (and most NATs) allocate above the privileged ports; random-port probing
 * guesses only inside this range (64512 ports).
 */
export const NAT_PORT_MIN = 1024
export const NAT_PORT_MAX = 65535

/**
 * Most extra sockets one side opens for birthday punching. 256 is what
 * hyperdht uses; more costs file descriptors and NAT table entries (each
 * socket holds one mapping on a shared, often carrier-grade, NAT).
 */
export const MAX_EXTRA_SOCKETS = 256

/**
 * Success probability the birthday sizing aims for, 0..1. 0.99 rather than
 * the 0.95 the product targets per NAT pair: the model assumes independent,
 * uniformly random mappings, and in the lab 0.95 sizing lost about one trial
 * in ten, so the model needs a margin.
 */
export const BIRTHDAY_TARGET_SUCCESS = 0.99

/**
 * Pacing of random-port probes, in ms between rounds, and probes per round:
 * 200 new destinations per second, four times hyperdht's rate (1 per 20 ms)
 * and still only about 7 KB/s of 36-byte datagrams; NAT connection tracking
 * creates far more entries per second than that. With 256 sockets this
 * reaches 99% in about 6 s.
 */
export const BIRTHDAY_PROBE_INTERVAL_MS = 20
export const BIRTHDAY_PROBES_PER_ROUND = 4

/**
 * Time in which a birthday punch should reach BIRTHDAY_TARGET_SUCCESS, in ms.
 * The sizing picks the fewest extra sockets that get there in this time (so
 * we hold as few NAT ports as possible) and opens MAX_EXTRA_SOCKETS when none
 * does. 10 s beats hyperdht's ~35 s while DCUtR gives up after 3 × 5 s.
 */
export const BIRTHDAY_TARGET_TIME_MS = 10_000

/**
 * How long the many-sockets side gets to open and prime its sockets before
 * the other side's random-port probes arrive, in ms (binding 256 sockets and
 * sending 256 low-TTL datagrams takes well under 100 ms)
 */
export const BIRTHDAY_PRIME_LEAD_MS = 250

/**
 * Resend the low-TTL priming datagrams this often, in ms, so the mappings
 * outlive Linux's 30 s timeout for unreplied UDP flows
 */
export const PRIME_REFRESH_MS = 10_000

/**
 * Default TTL (IPv6 hop limit) of priming datagrams: enough to leave a home
 * NAT, or a home NAT behind a carrier-grade NAT, and expire before the remote
 * NAT on ordinary internet paths (which are 10+ hops). Priming opens our own
 * mapping without creating a conflicting flow on the remote NAT. Set lower
 * (e.g. 2) for short lab paths through PlannerOptions.lowTtl.
 */
export const DEFAULT_PRIME_TTL = 5

/**
 * After priming, wait this long before the normal-TTL probes of direct and
 * predicted strategies, in ms, so both sides' own mappings exist before any
 * probe reaches a NAT
 */
export const PRIME_LEAD_MS = 50

/**
 * Rate the many-sockets side is assumed to send priming datagrams at, per
 * second, when the other side's start is delayed until priming is done.
 * Priming is paced by the node-wide probe rate limit like every probe, so
 * this is DEFAULT_MAX_PROBES_PER_SECOND (2,000/s): assuming more would start
 * the other side's probes before our mappings exist.
 */
export const PRIMING_DATAGRAMS_PER_SECOND = 2_000

/**
 * Pacing of direct (cone) probes, in ms: ICE's default check pacing (Ta)
 */
export const DIRECT_PROBE_INTERVAL_MS = 50

/**
 * Budget of a direct (cone) punch: DIRECT_BASE_BUDGET_MS plus 4 relayed RTTs,
 * capped at DIRECT_MAX_BUDGET_MS. A cone pair connects within one direct RTT
 * of both sides starting; the base absorbs start-time skew and loss.
 */
export const DIRECT_BASE_BUDGET_MS = 3_000
export const DIRECT_MAX_BUDGET_MS = 6_000

/**
 * Budget when either NAT is unknown: one short direct attempt, in ms, so an
 * unclassified peer costs little before the relay fallback
 */
export const UNKNOWN_BUDGET_MS = 2_500

/**
 * Budget of a LAN-only attempt (both peers behind the same public IP), in ms
 */
export const LAN_BUDGET_MS = 2_000

/**
 * Happy eyeballs (RFC 8305) inside a punch that races IPv6: IPv6 probes
 * start with the start signal, the main family's (IPv4) probes this many ms
 * later: the relayed RTT, kept within these bounds. A direct IPv6 path
 * answers within one direct RTT of both sides starting, and the direct RTT
 * is rarely longer than the relayed one (the relay is a detour); the floor
 * covers the two sides' start-time skew, the cap is RFC 8305's recommended
 * connection attempt delay, so a peer whose IPv6 is broken costs at most
 * 250 ms.
 */
export const IPV4_RACE_MIN_DELAY_MS = 50
export const IPV4_RACE_MAX_DELAY_MS = 250

/**
 * Sequential port prediction. The window of predicted ports is
 * SEQ_BASE_WINDOW / reliability (so 8 ports when every observed step was
 * exactly delta, 16 at reliability 0.5) plus the allocations other hosts are
 * assumed to make since the observation, clamped to SEQ_MIN_WINDOW ..
 * SEQ_MAX_WINDOW. Below SEQ_MIN_RELIABILITY the NAT is treated as random.
 */
export const SEQ_BASE_WINDOW = 8
export const SEQ_MIN_WINDOW = 8
export const SEQ_MAX_WINDOW = 128
export const SEQ_MIN_RELIABILITY = 0.5
/** Assumed allocations per second by other hosts behind a sequential NAT */
export const SEQ_ASSUMED_ALLOCATIONS_PER_SECOND = 0.5
/** Observation age beyond which the drift term stops growing, in ms */
export const SEQ_MAX_DRIFT_AGE_MS = 60_000

/**
 * Pacing and budget of predicted-port punching, in ms: one pass over the
 * window per round
 */
export const SEQ_ROUND_INTERVAL_MS = 100
export const SEQ_BUDGET_MS = 8_000

/**
 * After the first in-order burst over its probe list, a side whose NAT is
 * sequential re-sends the same list this often, ms: the mappings exist, so
 * repeats cost no ports and only cover loss and a late peer
 */
export const BURST_REPEAT_INTERVAL_MS = 500
export const PREDICT_BOTH_BUDGET_MS = 10_000

/**
 * Random ↔ sequential birthday: the random side primes every (socket,
 * predicted port) pair, so it holds extra sockets × window mappings on its
 * NAT. These caps keep that at 8192 entries, about 12 % success (see
 * timing.ts); the attempt is skipped when the model says below
 * MIN_WORTHWHILE_SUCCESS.
 */
export const RANDOM_SEQ_MAX_SOCKETS = 64
export const RANDOM_SEQ_MAX_PRIMED_MAPPINGS = 8_192
export const MIN_WORTHWHILE_SUCCESS = 0.05

/**
 * Budget for birthday punching beyond the probing itself (socket setup,
 * priming, start-time skew), in ms
 */
export const BIRTHDAY_SETUP_MS = 1_000

/**
 * Below this profile confidence (0..1) the planner does not rely on a cone's
 * filtering being open (EIF/ADF) and plans a full birthday punch instead
 */
export const MIN_TRUSTED_FILTERING_CONFIDENCE = 0.5

/**
 * Shortest and longest punch budget the planner produces, in ms. The longest
 * is also the protocol's limit for PlanSummary.budget_ms.
 */
export const MIN_PUNCH_BUDGET_MS = 1_000
export const MAX_PUNCH_BUDGET_MS = 60_000

/**
 * Most distinct targets probed per round from one socket (candidates of a
 * direct punch, LAN candidates); extra ones are probed in later rounds
 */
export const MAX_TARGETS_PER_ROUND = 16

/**
 * Keepalive on the direct path after success, in ms: half of the 30 s that
 * Linux and many home NATs keep an idle UDP mapping
 */
export const PUNCHED_PATH_KEEPALIVE_MS = 15_000

/**
 * Punch history bounds: peers and NAT-pair classes remembered (least
 * recently used evicted first), outcomes kept per entry
 */
export const HISTORY_MAX_PEERS = 1_024
export const HISTORY_MAX_PAIR_CLASSES = 64
export const HISTORY_OUTCOMES_PER_ENTRY = 16

/**
 * A peer or NAT-pair class with this many consecutive failures, the last
 * within DOOMED_WINDOW_MS, is not punched again until a backoff of
 * DOOMED_BACKOFF_BASE_MS × 2^(failures - DOOMED_CONSECUTIVE_FAILURES) (at
 * most DOOMED_BACKOFF_MAX_MS) has passed; then one attempt is allowed.
 */
export const DOOMED_CONSECUTIVE_FAILURES = 3
export const DOOMED_WINDOW_MS = 10 * 60_000
export const DOOMED_BACKOFF_BASE_MS = 60_000
export const DOOMED_BACKOFF_MAX_MS = 60 * 60_000

/**
 * A NAT-pair class (not a single peer) is doomed only when this many
 * distinct peers failed within DOOMED_WINDOW_MS; a peer counts at most once
 * per window however often it fails, and failures while the class is
 * already skipped neither count nor renew the skip. Anyone who reaches us
 * through a relay can claim any NAT class and abort its sessions: one peer's
 * failures must cost only that peer (it is doomed on its own after
 * DOOMED_CONSECUTIVE_FAILURES), never every honest peer of its class. 3
 * matches DOOMED_CONSECUTIVE_FAILURES, so a class that really fails is
 * skipped as soon as before when its failures come from different peers.
 */
export const DOOMED_CLASS_MIN_DISTINCT_PEERS = 3

/**
 * A peer that broke the coordination protocol (e.g. a SYNC asking for more
 * than our own plan) is not punched again, and not retried, for this long
 * after its latest violation, ms: DOOMED_BACKOFF_MAX_MS, the longest skip an
 * honest but failing peer can earn. Violators are remembered apart from
 * outcomes, HISTORY_MAX_PEERS of them at most.
 */
export const VIOLATION_BACKOFF_MS = 60 * 60_000

/**
 * Retry of a failed punch with the same peer: RETRY_BACKOFF_BASE_MS ×
 * 2^attempt, capped, with "equal jitter" (half fixed, half random) so two
 * peers that failed together do not retry in lockstep
 */
export const RETRY_BACKOFF_BASE_MS = 2_000
export const RETRY_BACKOFF_MAX_MS = 5 * 60_000

/**
 * A pair that succeeded before gets a budget of this many times its slowest
 * remembered time to success (never more than the strategy's default)
 */
export const KNOWN_GOOD_BUDGET_FACTOR = 3

/**
 * The shortest budget a remembered success may cut a cone punch to, in ms:
 * a fast success says the pair works, not that the next start is as well
 * aligned (a glare, a slow relay, one lost probe round)
 */
export const KNOWN_GOOD_MIN_BUDGET_MS = 2_000

/**
 * Most distinct IPs one side's punch plan aims at, LAN candidates included
 * (docs/PROTOCOL.md section 6). An honest peer has one public IP per family
 * (its mappings and observed addresses agree) and a LAN address or two, so
 * 4 covers IPv4 + IPv6 and a LAN race; a lying peer can point our probes at
 * no more than 4 hosts, each of them dropped after CONSENT_MAX_UNANSWERED
 * unanswered datagrams.
 */
export const MAX_TARGET_IPS_PER_SESSION = 4

/**
 * A responder checks SYNC against its own plan made with the relayed RTT
 * RESPONDER_RTT_TOLERANCE_FACTOR × its own measurement (ANSWER sent → SYNC
 * received) + RESPONDER_RTT_TOLERANCE_MS, at most RESPONDER_MAX_PLAN_RTT_MS.
 * The initiator's RTT (OFFER → ANSWER) is another sample of the same path:
 * twice ours plus 100 ms absorbs relay jitter and the initiator's planning
 * time, so honest initiators are not refused for their budget. The cap
 * bounds what a peer gains by delaying SYNC to inflate our measurement: at
 * most 2 × 3 s more budget (the budgets grow by 2 to 4 RTTs); a relayed RTT
 * over 3 s is far outside what an interactive punch meets (coordination
 * alone would take 10 s and more).
 */
export const RESPONDER_RTT_TOLERANCE_FACTOR = 2
export const RESPONDER_RTT_TOLERANCE_MS = 100
export const RESPONDER_MAX_PLAN_RTT_MS = 3_000

// ---------------------------------------------------------------------------
// protocol layer
// ---------------------------------------------------------------------------

/** Protocol id of the coordination protocol */
export const COORDINATION_PROTOCOL = '/libp2p-udp-holepunch/coordinate/1.0.0'

/**
 * Protocol id of the STUN endpoints query: a directly connected peer that
 * runs this package tells us the udx ports it answers STUN on, so relays
 * that run it become STUN servers without configuration
 */
export const STUN_ENDPOINTS_PROTOCOL = '/libp2p-udp-holepunch/stun-endpoints/1.0.0'

/** Most endpoints in a StunEndpoints message, and its largest size in bytes */
export const MAX_STUN_ENDPOINTS = 8
export const MAX_STUN_ENDPOINTS_MESSAGE_SIZE = 256

/** Version carried in OFFER/ANSWER.version */
export const COORDINATION_VERSION = 1

/**
 * OFFER/ANSWER.features bit: the punched connection starts with Noise at
 * once, multistream-select for the encrypter settled by both sides without
 * sending it (saves one direct round trip; docs/PROTOCOL.md, section 4).
 * ANSWER carries a bit only if OFFER had it and the responder agrees.
 */
export const FEATURE_DIRECT_NOISE = 0x1

/**
 * OFFER/ANSWER.features bit: the initiator listens for probes from OFFER on
 * (OFFER), and the responder probes as soon as it sends ANSWER when its own
 * plan probes both ways (ANSWER). Saves up to one relayed round trip on cone
 * pairs (docs/PROTOCOL.md, section 4).
 */
export const FEATURE_EARLY_PROBES = 0x2

/**
 * OFFER/ANSWER.features bit: the main plan (the NAT strategies) uses IPv4
 * only, and when both peers announce public IPv6 candidates both also
 * probe each other's IPv6 candidates from their IPv6 socket, IPv6 first
 * (happy eyeballs; SYNC's plan.race_ipv6, docs/PROTOCOL.md section 6)
 */
export const FEATURE_IPV6_RACE = 0x4

/**
 * The relayed RTT, in ms, the responder assumes for its early plan before
 * SYNC lets it measure one: only the provisional budget depends on it, and
 * the agreed plan replaces it when SYNC arrives
 */
export const EARLY_PLAN_RTT_MS = 500

/**
 * Most acks the initiator sends to early probes before its own punch
 * starts: one per probe of the responder's first second at the direct
 * pacing, so an early prober gets consent and an RTT, and no more
 */
export const EARLY_MAX_ACKS = 20

/**
 * Largest coordination message, in bytes (the varint length prefix excluded).
 * An OFFER with 32 IPv6 candidates and 8 public addresses is under 1.2 KiB.
 */
export const MAX_COORDINATION_MESSAGE_SIZE = 4_096

/** Most candidates in an OFFER or ANSWER */
export const MAX_CANDIDATES = 32

/** Most public addresses in a NatProfile message */
export const MAX_PUBLIC_ADDRESSES = 8

/** Longest ABORT.message, in UTF-8 bytes */
export const MAX_ABORT_MESSAGE_BYTES = 256

/** Highest OFFER.attempt (retries of one series) */
export const MAX_ATTEMPT = 15

/** Largest |delta| of a sequential port allocation accepted on the wire */
export const MAX_SEQUENTIAL_DELTA = 1_024

/** Largest PlanSummary.window (predicted ports) */
export const MAX_PLAN_WINDOW = 256

/** Largest PlanSummary.random_ports */
export const MAX_PLAN_RANDOM_PORTS = 8_192

/**
 * Largest ANSWER.hold_ms, in ms: the responder's NAT refresh before it
 * answers is bounded by the coordination step timeout of the initiator
 */
export const MAX_ANSWER_HOLD_MS = 10_000

/** Largest RESULT.elapsed_ms and RESULT.retry_after_ms, in ms */
export const MAX_RESULT_ELAPSED_MS = 600_000
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60_000

/**
 * How long each side waits for the next coordination message (ANSWER after
 * OFFER, SYNC after ANSWER), in ms. Over a relay, 10 s is many RTTs.
 */
export const COORDINATION_STEP_TIMEOUT_MS = 10_000

/**
 * After a side closes its end of the coordination stream, how long the peer
 * has to close its end before the stream is reset, in ms. Our last message
 * (ABORT or RESULT) is already written by then; a peer that never closes
 * holds no stream of ours longer than this.
 */
export const COORDINATION_CLOSE_GRACE_MS = 2_000

/**
 * When the initiator sends SELECT again on the path it picked, in ms after
 * the first SELECT (sent at once, before its first UDX packet). Three
 * copies spread over 150 ms survive the loss of one or two; the initiator
 * also answers every later probe on the path with SELECT.
 */
export const PUNCH_SELECT_REPEATS_MS = [30, 150]

// ---------------------------------------------------------------------------
// service layer
// ---------------------------------------------------------------------------

/**
 * A NAT profile older than this is refreshed before a punch, in ms. NAT
 * mappings and port allocation drift; 30 s keeps the profile close to what
 * the NAT does now while costing at most one discovery per 30 s.
 */
export const NAT_PROFILE_MAX_AGE_MS = 30_000

/**
 * Punches we start (outbound: connect() and background upgrades) that may run
 * at once. Counted apart from inbound punches so that peers reaching us can
 * never starve our own connect() calls.
 */
export const DEFAULT_MAX_OUTBOUND_PUNCHES = 8

/**
 * Punches peers start with us (inbound) that may run at once. Each costs us
 * at most one plan of our own choosing (see MAX_SESSION_DATAGRAMS); 4 keeps
 * a burst of sybils to 4 sessions while honest peers rarely punch the same
 * node at the same moment.
 */
export const DEFAULT_MAX_INBOUND_PUNCHES = 4

/**
 * OFFERs one peer may send us per minute. An honest peer retries with
 * backoff (2 s, 4 s, 8 s...), so 6 in a minute is already a retry storm;
 * more are refused with ABORT RESOURCE_LIMIT before any work.
 */
export const DEFAULT_MAX_SESSIONS_PER_PEER_PER_MINUTE = 6

/**
 * Most datagrams (probes, priming, acks, SELECT) one session sends, and most
 * bytes. The largest honest plan is a birthday punch: about 2,000 random-port
 * probes at 99 % (timing.ts), or 64 sockets priming a 128-port window; 10,000
 * covers it with margin and caps what a lying peer can aim at a victim at
 * 360 KB. Consent (CONSENT_MAX_UNANSWERED) keeps most sessions far below.
 */
export const DEFAULT_MAX_SESSION_DATAGRAMS = 10_000
export const DEFAULT_MAX_SESSION_BYTES = DEFAULT_MAX_SESSION_DATAGRAMS * 36

/**
 * Probe and priming datagrams per second across all sessions of the node,
 * and the burst. A birthday punch needs 200/s; priming bursts (up to 256
 * sockets at once) fit the burst. 2,000/s x 36 bytes is 72 KB/s: all that a
 * swarm of lying peers can make us send, together.
 */
export const DEFAULT_MAX_PROBES_PER_SECOND = 2_000

/**
 * Extra (birthday) sockets across all sessions: two full birthday punches
 * (2 x MAX_EXTRA_SOCKETS). A session that cannot get its sockets offers
 * fewer in OFFER/ANSWER, and the planner sizes the punch with what it got.
 */
export const DEFAULT_MAX_EXTRA_SOCKETS_TOTAL = 512

/**
 * Consent (the idea of RFC 7675): a remote address that received this many
 * of our datagrams without one authenticated datagram back is no longer
 * probed. A live peer answers within a round trip of both sides starting;
 * 32 probes are 1.6 s of direct-cone pacing (50 ms) and 3.2 s of a
 * predicted window (100 ms rounds). Birthday random-port targets are exempt
 * (bounded by the plan and the session caps).
 */
export const CONSENT_MAX_UNANSWERED = 32

/**
 * Deadline of the upgrade after a path is selected (UDX connect, Noise,
 * yamux), in ms. Noise XX is 1.5 round trips; 10 s covers loss and slow
 * hosts and releases the slot of a peer that never speaks Noise.
 */
export const UPGRADE_TIMEOUT_MS = 10_000

/**
 * Hard deadline of a whole session from OFFER to the upgraded connection,
 * in ms: two coordination steps (20 s) + the longest plan we would choose
 * (birthday, under 20 s) + the upgrade (10 s), with margin. No slot, socket
 * or timer outlives it.
 */
export const SESSION_DEADLINE_MS = 70_000

/**
 * After losing a glare (both peers sent OFFER at once and ours yields), how
 * long we wait for the peer's OFFER before giving up, in ms: its OFFER is
 * already on its way, so one coordination step is plenty.
 */
export const GLARE_WAIT_MS = 10_000

/**
 * A direct connection younger than this is never closed as stale when the
 * peer offers a new punch, in ms: the OFFER crossed our success (glare),
 * it does not mean the peer lost the connection
 */
export const DIRECT_STALE_GRACE_MS = 15_000

/**
 * Time `connect` may take when the caller passes no signal, in ms: the
 * coordination steps plus the longest punch budget (a birthday punch is
 * about 12 s) plus the upgrade
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000

/**
 * How long a finished punch keeps answering late probes on the selected
 * path with SELECT, in ms, while the direct connection is upgraded
 */
export const PUNCH_LINGER_MS = 2_000

/**
 * Poll interval while waiting for the relayed connection's streams to finish
 * before closing it after an upgrade, in ms. The relayed connection is
 * closed only while the direct connection is open, and never with a stream
 * in flight: it is not closed after any deadline.
 */
export const RELAY_RETIRE_POLL_MS = 500

/**
 * How often the path keeper notes which peers' connections carry
 * application streams, in ms (no I/O: it reads the stream lists of the
 * connections of the peers it keeps). Short enough to see a stream that
 * lives a few hundred ms, such as a transfer cut by a relay's limit.
 */
export const PATH_ACTIVITY_SAMPLE_MS = 200

/**
 * A peer whose connections carried an application stream within this many
 * ms is "wanted": when its direct path dies, the service restores it. 30 s
 * covers request/response traffic with pauses; longer-lived intent is what
 * the application's keep-alive tag is for.
 */
export const PATH_WANTED_WINDOW_MS = 30_000

/**
 * Delays before each punch that restores a lost direct path, in ms: at
 * once (a NAT reboot or a moved mapping usually punches again on the first
 * try), then exponential backoff with ±25% jitter
 */
export const REPUNCH_BACKOFF_MS = [0, 2_000, 4_000, 8_000, 16_000, 30_000]

/**
 * Punches per lost direct path before the relayed path is the path: the
 * backoff above then has spent about a minute
 */
export const REPUNCH_MAX_ATTEMPTS = 6

/**
 * How long before a time-limited relayed connection (a stock relay's 2
 * minutes) ends the relay is dialed again for a wanted peer without a
 * direct path, in s: a circuit dial takes about four relayed RTTs, well
 * under a second
 */
export const RELAY_REDIAL_LEAD_S = 10

/**
 * How long the direct address of a peer we were connected to stays worth a
 * direct attempt raced against the relay on the next connect(), in ms. A
 * peer that is public or behind a full-cone NAT answers there for as long
 * as its mapping lives; one behind a filtering NAT only while its mapping
 * towards us is fresh. A failed attempt costs one handshake in the
 * background, so 10 minutes errs towards trying.
 */
export const KNOWN_PATH_TTL_MS = 10 * 60_000

/**
 * When the peer cancels the punch we joined (its own caller left, typically
 * because its race to our known address won), connect() waits this long,
 * in ms, for that direct connection to finish its upgrade on our side
 * before it falls back or rejects: the peer's dial is one Noise message
 * ahead of us, a direct RTT at most
 */
export const PEER_DIRECT_GRACE_MS = 1_000

/** Peers whose last direct address we remember (LRU) */
export const MAX_KNOWN_PATHS = 1_024

/**
 * Peers whose STUN endpoints we use at once (relays first): enough for the
 * mapping test across two servers plus spares, few enough that a node with
 * many connections does not send STUN to all of them
 */
export const MAX_STUN_SOURCE_PEERS = 4

/** How long a STUN endpoints query may take, in ms (one stream round trip) */
export const STUN_ENDPOINTS_QUERY_TIMEOUT_MS = 5_000

/**
 * Public IPs that identify over non-udx connections (TCP to a relay) said
 * they see us at, kept as observed-address hints
 */
export const MAX_OBSERVED_IP_HINTS = 4

/**
 * Identify observations of our udx address kept for classification: enough
 * for a few dozen directly connected peers, bounded so peers cannot grow it
 */
export const MAX_IDENTIFY_OBSERVATIONS = 64

/**
 * How often the service re-observes its NAT when STUN servers are set, in ms.
 * A punch refreshes a profile older than NAT_PROFILE_MAX_AGE_MS by itself,
 * so this only keeps getNatProfile() current for monitoring and for peers
 * that ask; 5 minutes costs about 13 STUN transactions per 5 minutes.
 */
export const NAT_REFRESH_INTERVAL_MS = 5 * 60_000

/** A scheduled NAT refresh is abandoned after this long, in ms */
export const NAT_REFRESH_TIMEOUT_MS = 30_000

/**
 * A stale profile (older than NAT_PROFILE_MAX_AGE_MS) is confirmed with one
 * binding request instead of a full discovery while its classification is
 * younger than this, in ms: twice the scheduled refresh interval, so a node
 * with STUN servers always has one. A full discovery costs 1.2 to 1.8 s in
 * the lab (filtering tests wait for answers that a restrictive NAT drops),
 * one binding request one RTT.
 */
export const NAT_CLASSIFICATION_MAX_AGE_MS = 2 * NAT_REFRESH_INTERVAL_MS

// ---------------------------------------------------------------------------
// port mapping (src/nat/port-mapping/)
// ---------------------------------------------------------------------------

/**
 * Lifetime we ask the gateway for, in seconds. RFC 6886 recommends 7200 s
 * (two hours) for NAT-PMP; PCP leaves it to the client. Short enough that a
 * mapping of a crashed node goes away by itself the same day, long enough
 * that renewals (at half the granted lifetime) are rare.
 */
export const PORT_MAPPING_LIFETIME_S = 7200

/**
 * Renew a mapping when this share of its granted lifetime has passed.
 * RFC 6887 section 11.2.1 renews between 1/2 and 5/8 of the lifetime; at
 * 1/2 a lost renewal still leaves time for the retries.
 */
export const PORT_MAPPING_RENEW_FRACTION = 0.5

/**
 * Never renew more often than this (ms), whatever lifetime the gateway
 * grants: a gateway that grants a few seconds would otherwise make us send
 * without pause. miniupnpd's smallest lifetime is 120 s.
 */
export const PORT_MAPPING_MIN_RENEW_MS = 10_000

/**
 * First retransmission timeout of a PCP request, in ms; it doubles after
 * each send. RFC 6887 section 8.1.1 starts at 3 s for a client with nothing
 * else to do; the gateway is one LAN hop away (RTT well under 10 ms) and
 * NAT-PMP (RFC 6886 section 3.1) starts at 250 ms, so we do too: a gateway
 * without PCP then costs 1.75 s of waiting, not 21 s.
 */
export const PCP_INITIAL_RTO_MS = 250

/**
 * Sends of one PCP request (0, 0.25, 0.75 s), then a last wait of 1 s: a
 * request fails after 1.75 s. On a LAN, three lost packets in a row mean the
 * gateway does not speak PCP.
 */
export const PCP_MAX_TRANSMISSIONS = 3

/**
 * How long one NAT-PMP or UPnP request through @achingbrain/nat-port-mapper
 * may take, in ms. The library's NAT-PMP client never retransmits and its
 * UPnP client makes one HTTP request per action: a lost packet would
 * otherwise wait forever.
 */
export const PORT_MAPPING_REQUEST_TIMEOUT_MS = 4_000

/**
 * How long the SSDP search for UPnP gateways listens, in ms (the library's
 * IGDv2 search and our IGDv1 search, which run at once). A LAN gateway
 * answers M-SEARCH in milliseconds (its MX delay is at most 1 s with either
 * search).
 */
export const UPNP_DISCOVERY_TIMEOUT_MS = 3_000

/**
 * After a round in which no gateway mapped the port, try again after this
 * long (ms), doubling up to PORT_MAPPING_MAX_RETRY_MS. A router whose UPnP
 * is switched on later, or a network change (which retries at once), ends
 * the wait.
 */
export const PORT_MAPPING_RETRY_MS = 60_000

/** Longest wait between two mapping rounds that found nothing, in ms */
export const PORT_MAPPING_MAX_RETRY_MS = 30 * 60_000

/**
 * How long `stop()` waits for the gateway to confirm the deletion of our
 * mappings, in ms. A router that does not answer keeps the mapping until its
 * lifetime ends.
 */
export const PORT_MAPPING_STOP_TIMEOUT_MS = 2_000

/**
 * How long a verification of a mapped address may take, in ms (one STUN
 * transaction with retransmissions, per server tried).
 */
export const PORT_MAPPING_VERIFY_TIMEOUT_MS = 8_000

/**
 * At most this many STUN servers are asked to verify one mapping: the
 * first that answers settles it; servers that cannot send to another port
 * (RESPONSE-PORT unsupported) are skipped.
 */
export const PORT_MAPPING_VERIFY_MAX_SERVERS = 3

/**
 * A verified mapping is verified again after this long (ms): routers lose
 * mappings on reboot without telling (PCP's epoch tells, NAT-PMP's too; UPnP
 * does not).
 */
export const PORT_MAPPING_REVERIFY_MS = 10 * 60_000

/**
 * When verification could not run (no STUN server known yet, none answers
 * RESPONSE-PORT), it is tried again after this long (ms).
 */
export const PORT_MAPPING_VERIFY_RETRY_MS = 30_000

/**
 * Our own UPnP-IGDv1 client (igd-v1-*.ts; the library speaks IGDv2 only)
 * sends its SSDP M-SEARCH again after this long (ms), within
 * UPNP_DISCOVERY_TIMEOUT_MS: SSDP is UDP, one lost search or answer must
 * not cost a whole round (the UDA 1.1 spec asks to send a search more than
 * once for the same reason).
 */
export const UPNP_SEARCH_INTERVAL_MS = 1_000

/**
 * The MX of our M-SEARCH, in seconds: devices delay their answer by a
 * random time up to this. 1 s, the smallest UDA 1.1 allows, since only the
 * gateway one hop away is asked.
 */
export const UPNP_SEARCH_MX_S = 1

/**
 * At most this many SSDP answers are read per search (ms of parsing each);
 * the rest are dropped. A LAN device that floods us with answers costs
 * bounded work. A gateway answers each search once per matching service.
 */
export const UPNP_MAX_SSDP_RESPONSES = 32

/**
 * At most this many device descriptions are fetched per search: a gateway
 * has one (every answer names the same LOCATION); more only come from
 * other devices, whose LOCATION is refused before fetching anyway.
 */
export const UPNP_MAX_DESCRIPTIONS = 2

/**
 * Largest device description (LOCATION XML) we read, in bytes; a larger
 * one is abandoned. miniupnpd's is about 3 KiB, big consumer routers' (with
 * many services) 10-30 KiB.
 */
export const UPNP_MAX_DESCRIPTION_BYTES = 64 * 1024

/**
 * Largest SOAP answer we read, in bytes; a larger one is abandoned. The
 * answers we ask for carry a few short values (under 1 KiB); faults with a
 * long description stay well under this.
 */
export const UPNP_MAX_SOAP_RESPONSE_BYTES = 16 * 1024

/**
 * At most this many WANIPConnection:1 / WANPPPConnection:1 services of one
 * description are tried (routers list one of each per WAN connection;
 * only the active one has an external address).
 */
export const UPNP_MAX_SERVICES = 4

/**
 * External ports tried with IGDv1 AddPortMapping, our own port first, when
 * the gateway answers 718 ConflictInMappingEntry (another host holds that
 * external port): each try is one HTTP request to the gateway.
 */
export const UPNP_MAX_PORT_TRIES = 4
