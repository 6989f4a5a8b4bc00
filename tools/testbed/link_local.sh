# shellcheck shell=bash
# Whether routers' links are usable yet, shared by testbed.sh and
# dmm_topology.sh (sourced).
#
#   links_in_dad NS...   the links in these namespaces that have carrier and
#                        IPv6 (not loopback, not NOARP: tunnels) but no usable
#                        link-local address yet, one "NS DEV" per line.
#   links_settled NS...  whether there is none (for wait loops).
#
# While a router's link-local is missing or tentative its kernel sends no
# Neighbour Solicitation on that link (RFC 4862 5.4: a tentative address is
# not used; Linux's ndisc_send_ns then sends nothing), so the first packet
# forwarded there waits for a retransmission, a second or more. A fresh veth
# gets its link-local when the kernel sees its carrier and keeps it tentative
# for up to 2 s; routers in the field have had their links for longer. Links
# without ARP/ND (tunnels) have nothing to wait for. Three commands per
# namespace (callers poll it every 50-100 ms).
links_in_dad() {
    local ns dev flags ready no_ipv6
    for ns in "$@"; do
        # Links with a usable link-local; links with IPv6 disabled (the delay
        # stage's carry none of their own).
        ready=" $(ip -n "$ns" -6 -o addr show scope link -tentative | awk '{print $2}' | tr '\n' ' ')"
        no_ipv6=" $(ip netns exec "$ns" sh -c "grep -l '^1\$' /proc/sys/net/ipv6/conf/*/disable_ipv6" 2>/dev/null |
            awk -F/ '{print $(NF - 1)}' | tr '\n' ' ')"
        while read -r _ dev flags _; do
            dev=${dev%:}
            dev=${dev%@*}
            [[ $flags == *LOWER_UP* && $flags != *NOARP* && $flags != *LOOPBACK* ]] || continue
            [[ $ready == *" $dev "* || $no_ipv6 == *" $dev "* ]] || echo "$ns $dev"
        done < <(ip -n "$ns" -o link show up)
    done
}
links_settled() { [[ -z $(links_in_dad "$@") ]]; }
