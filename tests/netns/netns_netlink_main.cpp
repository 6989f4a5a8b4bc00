// Runner of netns_netlink_tests: the kernel side of NetlinkRouteManager and
// NetlinkLinkMonitor (DESIGN.md section 7, item 3).
//
// Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for unshare) and iproute2. The
// process first moves into a private network namespace (unshare
// CLONE_NEWNET), and every test case moves into a fresh one of its own
// (fresh_namespace() in test_netns_netlink.cpp), so whatever a test creates
// disappears with its namespace, even when the test fails or the process
// dies. When that is impossible here it prints "SKIPPED: <reason>" and exits
// 77, which CTest reports as skipped (SKIP_RETURN_CODE). With
// PMIP_TEST_NEEDS_IP6MR=1 in the environment (the netns_netlink_ip6mr test,
// which runs the [ip6mr] cases) it also skips, naming the reason, when the
// kernel has no IPv6 multicast routing; with PMIP_TEST_NEEDS_EBPF=1 (the
// netns_ebpf tests) when the kernel loads no tc/eBPF program at all (a
// two-instruction one is tried). When it does and ours is refused (the
// verifier), that is a failure of ours, not a missing feature: exit 1.
//
// Threading: single-threaded.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "pmip/mcast/ebpf_multicast_router.hpp"
#include "pmip/mcast/multicast_router.hpp"

int main(int argc, char** argv) {
    if (::geteuid() != 0) {
        std::printf("SKIPPED: not root (network namespaces need CAP_SYS_ADMIN)\n");
        return 77;
    }
    if (::unshare(CLONE_NEWNET) != 0) {
        std::printf("SKIPPED: unshare(CLONE_NEWNET): %s\n", std::strerror(errno));
        return 77;
    }
    if (std::system("ip -V >/dev/null 2>&1") != 0) {
        std::printf("SKIPPED: iproute2 'ip' not found\n");
        return 77;
    }
    if (const char* need = std::getenv("PMIP_TEST_NEEDS_IP6MR"); need && std::string_view(need) == "1") {
        if (auto reason = pmip::mcast::ip6mr_unavailable_reason()) {
            std::printf("SKIPPED: %s\n", reason->c_str());
            return 77;
        }
    }
    if (const char* need = std::getenv("PMIP_TEST_NEEDS_EBPF"); need && std::string_view(need) == "1") {
        if (auto reason = pmip::mcast::ebpf_unavailable_reason()) {
            // r0 = 0 (TC_ACT_OK); exit
            const bpf_insn trivial[] = {{BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0},
                                        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
            const int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "pmip_probe", "GPL", trivial, 2,
                                         nullptr);
            if (fd < 0) {
                std::printf("SKIPPED: %s\n", reason->c_str());
                return 77;
            }
            ::close(fd);
            std::printf("FAILED: the kernel loads tc/eBPF programs, but not ours: %s\n",
                        reason->c_str());
            return 1;
        }
    }
    return Catch::Session().run(argc, argv);
}
