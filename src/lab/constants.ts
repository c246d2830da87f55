/**
 * Defaults and limits of the NAT lab, each with its unit and the reason for
 * its value.
 */

/**
 * Every namespace a lab creates starts with this. `Lab.cleanupAll()` only
 * ever touches namespaces with this prefix.
 */
export const LAB_NAME_PREFIX = 'hpl-'

/**
 * Directory (not a network namespace) where each lab writes a small record
 * of its owner process, so that cleanup can tell a live lab from the
 * leftovers of a crashed one. `/run` is a tmpfs: a reboot clears it along
 * with the namespaces.
 */
export const LAB_REGISTRY_DIR = '/run/hpl-lab'

/**
 * UDP binding timeout of a NAT (ms). The Linux default for unreplied UDP
 * flows is 30 s; we use it for both the unreplied and the "stream" conntrack
 * timeouts so that a binding lives the same time whatever its traffic was.
 */
export const DEFAULT_BINDING_TIMEOUT_MS = 30_000

/**
 * Conntrack timeouts are whole seconds, so a binding timeout must be at
 * least this (ms).
 */
export const MIN_BINDING_TIMEOUT_MS = 1_000

/**
 * Upper bound of a binding timeout (ms): one hour; longer values only hide
 * bugs in keep-alive code.
 */
export const MAX_BINDING_TIMEOUT_MS = 3_600_000

/**
 * First external port of a `symmetric-seq` NAT's pool. Above the range that
 * Linux uses for ephemeral ports of the LAN hosts (32768-60999 by default)
 * would make pools small, so we start lower: clashes are impossible anyway
 * because the pool belongs to the router's public address only.
 */
export const DEFAULT_SEQUENTIAL_FIRST_PORT = 20_000

/**
 * Number of ports in a `symmetric-seq` NAT's pool. It must be large
 * (1,000+): a small pool is exhausted by many-socket (birthday) punching and
 * wraps around, which makes port prediction look better than it is.
 */
export const DEFAULT_SEQUENTIAL_POOL_SIZE = 2_048

/**
 * Smallest allowed sequential pool (ports), see above.
 */
export const MIN_SEQUENTIAL_POOL_SIZE = 1_000

/**
 * Largest allowed sequential pool (ports): every port is one element of an
 * nftables map that is loaded at start-up.
 */
export const MAX_SEQUENTIAL_POOL_SIZE = 16_384

/**
 * Step between two consecutive mappings of a `symmetric-seq` NAT (ports).
 */
export const DEFAULT_SEQUENTIAL_PORT_DELTA = 1

/**
 * Largest port delta of a `symmetric-seq` NAT (ports). Real sequential NATs
 * use small deltas (1, 2, sometimes 4 or 10).
 */
export const MAX_SEQUENTIAL_PORT_DELTA = 64

/**
 * LAN hosts per site (count).
 */
export const DEFAULT_HOSTS_PER_SITE = 1

/**
 * LAN hosts per site at most (count): they are numbered inside a /24 (NAT
 * sites) or a /28 (sites without NAT).
 */
export const MAX_HOSTS_PER_SITE = 13

/**
 * Sites per lab at most (count): each site router takes one address of
 * 203.0.113.100-249 (double-NAT sites take one for the carrier only).
 */
export const MAX_SITES = 100

/**
 * Public hosts per lab at most (count): they take 203.0.113.10-99 and
 * 198.51.100.10-99.
 */
export const MAX_PUBLIC_HOSTS = 90

/**
 * Sites without NAT get a /28 of 192.0.2.0/24 each, so at most 16.
 */
export const MAX_OPEN_SITES = 16

/**
 * Largest added one-way delay (ms). The delay stage holds packets in a
 * bounded queue; ten seconds is far beyond any internet path.
 */
export const MAX_DELAY_MS = 10_000

/**
 * Packets the delay stage holds at most per link (count). Beyond it, new
 * packets are dropped (tail drop, like a router buffer). 4,096 packets at
 * 1,500 bytes is 6 MB in flight, enough for a UDX stream at several hundred
 * Mbit/s and 100 ms of delay.
 */
export const DELAY_QUEUE_MAX_PACKETS = 4_096

/**
 * Time a single setup or teardown command may take before the lab gives up
 * on it (ms). Each one normally takes a few ms.
 */
export const COMMAND_TIMEOUT_MS = 15_000

/**
 * Time `host.exec()` lets a command run unless told otherwise (ms).
 */
export const DEFAULT_EXEC_TIMEOUT_MS = 30_000

/**
 * Output `host.exec()` keeps per stream (bytes); more makes it fail rather
 * than eat the test runner's memory.
 */
export const EXEC_MAX_BUFFER_BYTES = 16 * 1024 * 1024

/**
 * Lines of stdout and of stderr that a spawned process keeps for
 * `waitForLine()` and `lines()` (count). Older lines are dropped.
 */
export const PROCESS_MAX_KEPT_LINES = 10_000

/**
 * Time between SIGTERM and SIGKILL when the lab stops a process (ms).
 */
export const PROCESS_KILL_GRACE_MS = 1_000

/**
 * Time the lab waits for processes to disappear after SIGKILL (ms).
 */
export const PROCESS_EXIT_WAIT_MS = 2_000

/**
 * Interval of the bounded polls the lab runs (ms), for example while it
 * waits for processes to exit.
 */
export const POLL_INTERVAL_MS = 20

/**
 * Time the delay stage may take to compile and report that it is ready
 * (ms). gcc takes about 200 ms the first time; later labs reuse the binary.
 */
export const DELAY_STAGE_READY_TIMEOUT_MS = 20_000

/**
 * Commands that the lab runs concurrently while it builds a topology
 * (count). More than a few gains nothing on small machines.
 */
export const SETUP_CONCURRENCY = 8

/**
 * The UDP ports of the STUN responder that a router's miniupnpd asks for
 * its external address (`ext_perform_stun`): the standard STUN port and the
 * next one, for the change-port answers.
 */
export const GATEWAY_STUN_PORTS: readonly [number, number] = Object.freeze([3478, 3479]) as readonly [number, number]

/**
 * Where the internet namespace's gateway STUN responder listens: the
 * second address of each internet subnet (public hosts start at .10,
 * routers at .100).
 */
export const GATEWAY_STUN_INTERNET_IPS: readonly [string, string] = Object.freeze(['203.0.113.2', '198.51.100.2']) as readonly [string, string]

/**
 * The host part of the second address a carrier NAT gets on its LAN for
 * the gateway STUN responder of the router behind it (the carrier is .1,
 * the router .2).
 */
export const GATEWAY_STUN_CARRIER_HOST = 3

/** The TCP port of a lab router's UPnP-IGD HTTP server (miniupnpd's `http_port`) */
export const UPNP_HTTP_PORT = 5000

/** PCP and NAT-PMP servers listen on this UDP port (RFC 6887, RFC 6886) */
export const PCP_PORT = 5351

/** SSDP (UPnP discovery) multicast port */
export const SSDP_PORT = 1900

/**
 * How long a router's miniupnpd may take to start (ms): it runs its STUN
 * test first, which waits up to 3 s per round when an answer is lost.
 */
export const MINIUPNPD_READY_TIMEOUT_MS = 15_000

/** Default shortest PCP lifetime a lab router grants (s): miniupnpd's own default */
export const DEFAULT_PCP_MIN_LIFETIME_S = 120

/** Default longest PCP lifetime a lab router grants (s): miniupnpd's own default */
export const DEFAULT_PCP_MAX_LIFETIME_S = 86_400

/**
 * Prefix length of every IPv6 subnet of the lab (bits): the internet
 * bridge, each site's LAN and each carrier link are one /64 each, the size
 * IPv6 LANs have (RFC 7421).
 */
export const IPV6_SUBNET_PREFIX_LENGTH = 64

/**
 * The subnet id (fourth group) of a carrier link inside its site's
 * 2001:db8:<i+1>::/48: 2001:db8:<i+1>:ff::/64, carrier ::1, site router
 * ::2. Far from the LAN's subnet id 0, so the two never meet.
 */
export const IPV6_CARRIER_SUBNET_ID = 'ff'
