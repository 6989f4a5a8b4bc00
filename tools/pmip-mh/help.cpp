// pmip-mh: the manual page printed by --help.
#include "commands.hpp"

namespace pmip::tools {

const char* help_text() {
    return R"(NAME
    pmip-mh - decode and encode IPv6 Mobility Header messages (PMIPv6, MIPv6)

SYNOPSIS
    pmip-mh decode [--lenient] [--c-flag MASK] [--subscription-option-type N]
                   (--hex HEX | --hex - | --pcap FILE)
    pmip-mh encode [--src ADDR] [--dst ADDR] [--c-flag MASK]
                   [--subscription-option-type N] (--hex | --pcap FILE)
    pmip-mh --help | --version

DESCRIPTION
    pmip-mh converts Mobility Header messages (IPv6 Next Header 135, RFC 6275
    section 6.1) between their wire form and a JSON form, one JSON object per
    line. It knows the Binding Update / Acknowledgement / Error (RFC 6275),
    their proxy forms PBU / PBA (RFC 5213), Heartbeat (RFC 5847), Binding
    Revocation Indication / Acknowledgement (RFC 5846), Update Notification /
    Acknowledgement (RFC 7077) and Subscription Query / Response (RFC 7161),
    with the mobility options of those RFCs and of
    RFC 3963, 4283, 4285, 5094, 5555, 5844, 5845, 6602, 7161 and 8885.

    decode  reads Mobility Headers and prints each as one JSON object on
            stdout. A message that does not parse, or whose checksum is
            wrong, is printed as
              {"error":"KIND", "reaction":"REACTION", "offset":N,
               "option_type":T (option errors), "frame":F (--pcap)}
            where KIND names the parse error, REACTION is what RFC 6275
            section 9.2 asks a receiver to do, and OFFSET is the octet offset
            in the Mobility Header; later messages are still decoded.

    encode  reads JSON objects from stdin, one per line (blank lines and lines
            starting with '#' are skipped), and writes each message in wire
            form. Pad1/PadN options are inserted for each option's alignment.
            The checksum is computed over the IPv6 pseudo-header of --src and
            --dst in both output forms. A bad line is reported on stderr with
            its line number and the offending JSON member; the other lines are
            still encoded.

OPTIONS
    --hex HEX   (decode) the Mobility Header octets alone, starting at the
                Payload Proto octet; spaces, colons and a leading 0x are
                allowed. The checksum is not verified (no addresses).
    --hex -     (decode) one such hex message per line on stdin.
    --hex       (encode) write one lowercase hex line per message to stdout.
    --pcap FILE (decode) read a capture file (pcap or pcapng). Link types: raw
                IP (LINKTYPE_RAW 101, DLT_RAW 12/14, 229), Ethernet (1;
                EtherType 0x86dd, at most one 802.1Q/802.1ad tag), Linux cooked
                (113, 276) and BSD loopback (0). The IPv6 extension headers
                Hop-by-Hop, Routing, Fragment (first fragment only),
                Destination Options and AH are skipped to reach Next Header 135;
                other packets are ignored. The checksum is verified against the
                IPv6 pseudo-header. Each object gets "frame": the 1-based
                frame number in the file.
    --pcap FILE (encode) write a capture file, LINKTYPE_RAW, one IPv6 packet
                (next header 135, hop limit 64) per message.
    --lenient   (decode) accept the behaviours of deployed OAI / UMIP pmip6d
                peers (Header Len 8 octets short: the message then occupies the
                whole IPv6 payload; host-order timestamps; empty or binary NAI;
                EUI-64 link-layer identifier; PBA without P). Each one seen is
                listed in a "quirks" member.
    --src ADDR  (encode) IPv6 source address; default 2001:db8::1.
    --dst ADDR  (encode) IPv6 destination address; default 2001:db8::2.
    --c-flag MASK
                Binding Update bit of the draft-asaeda multicast flag, shown as
                "C"; one bit, hex or decimal. Default 0x0008. The draft itself
                uses 0x0100, which is also the registered F flag; C then wins.
    --subscription-option-type N
                Option type of the draft-asaeda multicast subscription option
                ("multicast_subscription"). Default 200.
    -h, --help  print this manual and exit.
    --version   print the version and exit.

JSON FORM
    The same shape is printed by decode and read by encode:

      {"type":"pbu", "sequence":7, "flags":["A","P"], "lifetime":150,
       "options":[{"type":22, "name":"home_network_prefix",
                   "prefix":"2001:db8:1::/64"},
                  {"type":23, "name":"handoff_indicator", "value":1}]}

    type      pbu | pba | bu | ba | be | heartbeat | bri | bra | upn | upa |
              subscription_query | subscription_response (RFC 7161).
              pbu/pba are a BU/BA with the P flag; on encode they set P.
    sequence  16-bit sequence number (32-bit for heartbeat, 8-bit for
              subscription_query / subscription_response).
    flags     letters: bu A H L K M R P F T B S D C; ba K R P T B S D;
              heartbeat U R; bri/bra P V G; upn A D; subscription_response
              I. A set bit without a letter is a hex mask string such as
              "0x0004" (accepted back).
    lifetime  bu, ba: in units of 4 seconds.
    status    ba, be, bra, upa.
    home_address  be.       trigger  bri.       reason  upn.
    quirks    decode --lenient only: the pmip6d behaviours seen.
    frame     decode --pcap only; ignored by encode.

    Message members other than "type" default to 0 / empty on encode; a
    member that does not belong to the message type is an error.

    Each option is {"type":N, "name":"...", ...}; encode needs only one of
    "type" and "name". Names (type) and members:
      mn_identifier (8)
          "subtype":N (default 1, NAI), "id":"text", or "id_hex":"..." when
          the identifier is not printable ASCII
      home_network_prefix (22), mobile_network_prefix (6),
      anchored_prefix (65), local_prefix (66)
          "prefix":"2001:db8:1::/64"
      handoff_indicator (23), access_technology_type (24),
      restart_counter (28)
          "value":N
      mn_link_layer_identifier (25)
          "id_hex":"..."
      dlif_link_layer_address (70)
          "address_hex":"..."
      link_local_address (26), alternate_care_of_address (3),
      serving_maar (68), dlif_link_local_address (69),
      ipv4_care_of_address (32),
      ipv4_default_router_address (38)
          "address":"..."
      timestamp (27), mobility_message_replay_protection (10)
          "value":U64 (raw; timestamp: 48-bit seconds, 16-bit fraction)
      gre_key (33)
          "key":N (absent: GRE without a key)
      binding_refresh_advice (2)
          "refresh_interval":N (4 s units)
      mobility_message_authentication (9)
          "subtype":N, "spi":N, "data_hex":"..."
      vendor_specific (19)
          "vendor_id":N, "subtype":N, "data_hex":"..."
      ipv4_home_address (29)
          "prefix_length":N, "request_prefix":bool, "address":"a.b.c.d"
      ipv4_address_acknowledgement (30), ipv4_home_address_reply (37)
          "status":N, "prefix_length":N, "address":"a.b.c.d"
      ipv4_home_address_request (36)
          "prefix_length":N, "address":"a.b.c.d"
      nat_detection (31)
          "udp_encapsulation_required":bool, "refresh_time":N
      ipv4_dhcp_support_mode (39)
          "dhcp_server":bool
      mn_group_identifier (50)
          "subtype":N, "group_id":N
      active_multicast_subscription_ipv4 (56)
          "igmp_type":N, "record_type":N, "group":"a.b.c.d", "sources":[...],
          "aux_hex":"..."
      active_multicast_subscription_ipv6 (57)
          "mld_type":N, "record":RECORD
      multicast_subscription (--subscription-option-type, default 200)
          "records":[RECORD, ...]
      previous_maar (67)
          "address":"...", "home_network_prefix":"addr/len"
      unknown (any other type)
          "data_hex":"..."
    RECORD is an MLDv2 multicast address record:
      {"record_type":N, "group":"ff3e::1", "sources":[...], "aux_hex":""}
    On encode, "subtype" of mn_identifier, booleans, "key", "sources",
    "aux_hex" and the vendor_specific "data_hex" may be left out; every other
    option member is required.
    Addresses are text, octet strings lowercase hex. Pad1/PadN never appear.

EXIT STATUS
    0   every message was decoded / encoded.
    1   at least one message was malformed, had a bad checksum, or was a bad
        JSON line.
    2   usage error, or a file that cannot be read or written (message on
        stderr).

EXAMPLES
    Decode a PBU given as hex:
      pmip-mh decode --hex '3b010500 0000 0001 8200 0096 01020000'
    Decode every Mobility Header in a capture of OAI pmip6d traffic:
      pmip-mh decode --lenient --pcap mag.pcap
    Build a PBU and look at it in Wireshark:
      hnp='{"name":"home_network_prefix","prefix":"::/0"}'
      echo '{"type":"pbu","flags":["A"],"lifetime":150,"options":['"$hnp"']}' |
        pmip-mh encode --src 2001:db8::10 --dst 2001:db8::1 --pcap pbu.pcap
      tshark -r pbu.pcap -V
    Round trip:
      pmip-mh encode --hex < msgs.jsonl | pmip-mh decode --hex -
)";
}

}  // namespace pmip::tools
