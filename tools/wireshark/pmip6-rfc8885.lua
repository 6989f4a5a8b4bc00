-- pmip6-rfc8885.lua: Wireshark / tshark decoding of the Proxy Mobile IPv6
-- extensions for Distributed Mobility Management (RFC 8885, section 4).
--
-- Wireshark 4.0 (Debian 12) knows neither the DMM (D) flag of the Proxy
-- Binding Update / Acknowledgement nor mobility options 65-70: it shows them
-- as "Mobility Option: Unknown (65)" and so on. This plugin adds:
--
--   * the D flag of every Binding Update (MH type 5; flag 0x0010 of the
--     16-bit flags word, RFC 8885 4.1) and Binding Acknowledgement (MH type 6;
--     flag 0x02 of the flags octet after Status, RFC 8885 4.2), in a
--     "PMIPv6 DMM (RFC 8885)" tree after the Mobile IPv6 one. RFC 8885 uses
--     it in PBU / PBA (P flag set); it is shown for a BU / BA without P too,
--     whose item says so.
--   * options 65-70 (RFC 8885 4.3-4.8), decoded in place in the Mobility
--     Options tree of the MIPv6 dissector, through its "mip6.option"
--     dissector table (it hands over the whole option, Type and Length
--     included).
--
-- Display filter fields:
--
--   pmip6dmm                         the D-flag tree (any BU / BA)
--   pmip6dmm.d                       boolean: the D flag (PBU and PBA)
--   pmip6dmm.opt                     any RFC 8885 option
--   pmip6dmm.opt.type                option type (65-70)
--   pmip6dmm.opt.len                 option Length octet
--   pmip6dmm.opt.reserved            8-bit Reserved of options 65, 66, 67
--   pmip6dmm.anchored_prefix         option 65 prefix (IPv6), RFC 8885 4.3
--   pmip6dmm.anchored_prefix.len     ... its Prefix Length
--   pmip6dmm.local_prefix            option 66 prefix (IPv6), RFC 8885 4.4
--   pmip6dmm.local_prefix.len        ... its Prefix Length
--   pmip6dmm.previous_maar.address   option 67 P-MAAR global address, 4.5
--   pmip6dmm.previous_maar.prefix    ... the MN's Home Network Prefix
--   pmip6dmm.previous_maar.prefix.len ... its Prefix Length
--   pmip6dmm.serving_maar            option 68 S-MAAR global address, 4.6
--   pmip6dmm.dlif_lla                option 69 DLIF link-local address, 4.7
--   pmip6dmm.dlif_l2.reserved        option 70 16-bit Reserved, 4.8
--   pmip6dmm.dlif_l2                 ... the DLIF link-layer address (bytes)
--   pmip6dmm.dlif_l2.mac             ... the same as a MAC, when 6 octets
--
-- Expert infos (severity warning): pmip6dmm.opt.bad_len (Length differs from
-- the one RFC 8885 fixes, or too short), pmip6dmm.opt.bad_prefix_len (Prefix
-- Length above 128).
--
-- Loading:
--   tshark -X lua_script:tools/wireshark/pmip6-rfc8885.lua -r capture.pcap -V
-- or copy the file into the personal Lua plugin folder
-- (~/.local/lib/wireshark/plugins/; `tshark -G folders` names it) for
-- Wireshark and tshark to load it at start. Needs a Wireshark built with Lua
-- (`tshark -v` says "with Lua"); written against 4.0 (Lua 5.2).
--
-- Tested by tests/cli/test_wireshark_rfc8885.sh.

local RFC = "RFC 8885"

----------------------------------------------------------------- D flag ----

local p_dmm = Proto("pmip6dmm", "PMIPv6 DMM (RFC 8885)")

local f_d = ProtoField.bool("pmip6dmm.d", "DMM (D) flag", base.NONE,
    { "Set", "Not set" },
    nil, "RFC 8885 4.1/4.2: PBU from a MAAR or CMD; PBA sender can act as a MAAR or CMD")
p_dmm.fields = { f_d }

-- The MIPv6 dissector's flag fields cover the whole flags word (BU, 2
-- octets) or octet (BA), wherever the Mobility Header lies (tunnels,
-- reassembled fragments): each instance is one message.
local fx_bu_flags = Field.new("mip6.bu.a_flag")
local fx_ba_flags = Field.new("mip6.ba.k_flag")

-- ".... .... ...1 ...." for bit BIT (0 = most significant) of WIDTH bits.
local function bit_pattern(width, bit, value)
    local s = {}
    for i = 0, width - 1 do
        if i > 0 and i % 4 == 0 then s[#s + 1] = " " end
        s[#s + 1] = (i == bit) and tostring(value) or "."
    end
    return table.concat(s)
end

-- RANGE: the flags field; BIT / P_BIT: positions of D and P in it (0 = MSB).
local function add_d_flag(tree, range, bit, p_bit, msg, proxy_msg, meaning)
    local width = range:len() * 8
    local d = range:bitfield(bit, 1)
    local proxy = range:bitfield(p_bit, 1) == 1
    local sub = tree:add(p_dmm, range)
    sub:append_text(", " .. (proxy and proxy_msg or msg))
    local item = sub:add(f_d, range, d == 1,
        bit_pattern(width, bit, d) .. " = DMM (D) flag: " .. (d == 1 and "Set" or "Not set"))
    if d == 1 then item:append_text(" (" .. meaning .. ")") end
    if not proxy then item:append_text(" [P flag not set: RFC 8885 defines D for the proxy form]") end
    return d == 1
end

function p_dmm.dissector(tvb, pinfo, tree)
    local any_d = false
    for _, fi in ipairs({ fx_bu_flags() }) do
        local r = fi.range
        if r and r:len() == 2 then
            -- A|H|L|K|M|R|P|F|T|B|S|D|Rsrvd: P is bit 6, D bit 11 (0x0010).
            any_d = add_d_flag(tree, r, 11, 6, "Binding Update", "Proxy Binding Update",
                "sent by a MAAR or CMD, RFC 8885 4.1") or any_d
        end
    end
    for _, fi in ipairs({ fx_ba_flags() }) do
        local r = fi.range
        if r and r:len() == 1 then
            -- K|R|P|T|B|S|D|-: P is bit 2, D bit 6 (0x02).
            any_d = add_d_flag(tree, r, 6, 2, "Binding Acknowledgement",
                "Proxy Binding Acknowledgement",
                "sender can act as a MAAR or CMD, RFC 8885 4.2") or any_d
        end
    end
    if any_d then pinfo.cols.info:append(" [DMM]") end
end

register_postdissector(p_dmm)

-------------------------------------------------------- options 65-70 ----

local p_opt = Proto("pmip6dmm.opt", "PMIPv6 DMM mobility option (RFC 8885)")

local OPT_ANCHORED_PREFIX, OPT_LOCAL_PREFIX, OPT_PREVIOUS_MAAR = 65, 66, 67
local OPT_SERVING_MAAR, OPT_DLIF_LLA, OPT_DLIF_L2 = 68, 69, 70

local option_names = {
    [OPT_ANCHORED_PREFIX] = "Anchored Prefix",
    [OPT_LOCAL_PREFIX] = "Local Prefix",
    [OPT_PREVIOUS_MAAR] = "Previous MAAR",
    [OPT_SERVING_MAAR] = "Serving MAAR",
    [OPT_DLIF_LLA] = "DLIF Link-Local Address",
    [OPT_DLIF_L2] = "DLIF Link-Layer Address",
}

local f = {
    type = ProtoField.uint8("pmip6dmm.opt.type", "Mobility Option", base.DEC, option_names),
    len = ProtoField.uint8("pmip6dmm.opt.len", "Length", base.DEC),
    reserved = ProtoField.uint8("pmip6dmm.opt.reserved", "Reserved", base.HEX),
    ap = ProtoField.ipv6("pmip6dmm.anchored_prefix", "Anchored Prefix"),
    ap_len = ProtoField.uint8("pmip6dmm.anchored_prefix.len", "Prefix Length", base.DEC),
    lp = ProtoField.ipv6("pmip6dmm.local_prefix", "Local Prefix"),
    lp_len = ProtoField.uint8("pmip6dmm.local_prefix.len", "Prefix Length", base.DEC),
    pm_addr = ProtoField.ipv6("pmip6dmm.previous_maar.address", "Previous MAAR",
        "P-MAAR's IPv6 global address"),
    pm_prefix = ProtoField.ipv6("pmip6dmm.previous_maar.prefix", "Home Network Prefix",
        "MN's Home Network Prefix anchored at the P-MAAR"),
    pm_prefix_len = ProtoField.uint8("pmip6dmm.previous_maar.prefix.len", "Prefix Length", base.DEC),
    sm = ProtoField.ipv6("pmip6dmm.serving_maar", "Serving MAAR", "S-MAAR's IPv6 global address"),
    lla = ProtoField.ipv6("pmip6dmm.dlif_lla", "DLIF Link-Local Address"),
    l2_reserved = ProtoField.uint16("pmip6dmm.dlif_l2.reserved", "Reserved", base.HEX),
    l2 = ProtoField.bytes("pmip6dmm.dlif_l2", "DLIF Link-Layer Address"),
    l2_mac = ProtoField.ether("pmip6dmm.dlif_l2.mac", "DLIF Link-Layer Address (MAC)"),
}
p_opt.fields = {
    f.type, f.len, f.reserved, f.ap, f.ap_len, f.lp, f.lp_len, f.pm_addr,
    f.pm_prefix, f.pm_prefix_len, f.sm, f.lla, f.l2_reserved, f.l2, f.l2_mac,
}

local e_bad_len = ProtoExpert.new("pmip6dmm.opt.bad_len",
    "RFC 8885 option length is wrong", expert.group.MALFORMED, expert.severity.WARN)
local e_bad_prefix_len = ProtoExpert.new("pmip6dmm.opt.bad_prefix_len",
    "Prefix Length above 128", expert.group.PROTOCOL, expert.severity.WARN)
p_opt.experts = { e_bad_len, e_bad_prefix_len }

-- Reserved(8), Prefix Length(8), then 16-octet prefixes at offset 4 (the
-- fields of FIELDS, one or two of them). Returns "prefix/len" of the last.
local function add_prefix_body(tvb, tree, prefix_len_field, fields)
    tree:add(f.reserved, tvb(2, 1))
    local plen = tvb(3, 1):uint()
    local item = tree:add(prefix_len_field, tvb(3, 1))
    if plen > 128 then item:add_proto_expert_info(e_bad_prefix_len) end
    local text
    for i, field in ipairs(fields) do
        local at = 4 + (i - 1) * 16
        tree:add(field, tvb(at, 16))
        text = tostring(tvb(at, 16):ipv6()) .. "/" .. plen
    end
    return text
end

-- Option body decoders: (tvb of the whole option, subtree) -> summary text.
-- Each is called only when the option has the length it needs.
local decoders = {
    -- 4.3: Type, Length = 18, Reserved, Prefix Length, Anchored Prefix.
    [OPT_ANCHORED_PREFIX] = { len = 18, fn = function(tvb, tree)
        return add_prefix_body(tvb, tree, f.ap_len, { f.ap })
    end },
    -- 4.4: the same layout with the Local Prefix.
    [OPT_LOCAL_PREFIX] = { len = 18, fn = function(tvb, tree)
        return add_prefix_body(tvb, tree, f.lp_len, { f.lp })
    end },
    -- 4.5: Type, Length = 34, Reserved, Prefix Length, Previous MAAR (16),
    -- Home Network Prefix (16); Prefix Length belongs to the HNP.
    [OPT_PREVIOUS_MAAR] = { len = 34, fn = function(tvb, tree)
        local hnp = add_prefix_body(tvb, tree, f.pm_prefix_len, { f.pm_addr, f.pm_prefix })
        return tostring(tvb(4, 16):ipv6()) .. ", HNP " .. hnp
    end },
    -- 4.6: Type, Length = 16, S-MAAR's address.
    [OPT_SERVING_MAAR] = { len = 16, fn = function(tvb, tree)
        tree:add(f.sm, tvb(2, 16))
        return tostring(tvb(2, 16):ipv6())
    end },
    -- 4.7: Type, Length = 16, DLIF link-local address.
    [OPT_DLIF_LLA] = { len = 16, fn = function(tvb, tree)
        tree:add(f.lla, tvb(2, 16))
        return tostring(tvb(2, 16):ipv6())
    end },
    -- 4.8: Type, Length, Reserved (16), link-layer address (the rest; its
    -- form as in RFC 4861 4.6). At least one address octet.
    [OPT_DLIF_L2] = { min_len = 3, fn = function(tvb, tree, len)
        tree:add(f.l2_reserved, tvb(2, 2))
        local addr = tvb(4, len - 2)
        tree:add(f.l2, addr)
        if addr:len() == 6 then
            tree:add(f.l2_mac, addr)
            return tostring(addr:ether())
        end
        return tostring(addr:bytes())
    end },
}

function p_opt.dissector(tvb, pinfo, tree)
    local total = tvb:len()
    if total < 2 then return 0 end
    local otype = tvb(0, 1):uint()
    local len = tvb(1, 1):uint()
    local name = option_names[otype] or ("Option " .. otype)
    local sub = tree:add(p_opt, tvb(0, math.min(total, len + 2)))
    sub:set_text("PMIPv6 DMM Option - " .. name)
    sub:add(f.type, tvb(0, 1))
    local len_item = sub:add(f.len, tvb(1, 1))

    local d = decoders[otype]
    if not d then return total end
    local ok_len
    if d.len then
        ok_len = (len == d.len)
        if not ok_len then
            len_item:add_proto_expert_info(e_bad_len,
                string.format("%s option Length %d, %s fixes %d", name, len, RFC, d.len))
        end
    else
        ok_len = (len >= d.min_len)
        if not ok_len then
            len_item:add_proto_expert_info(e_bad_len,
                string.format("%s option Length %d, %s needs at least %d", name, len, RFC, d.min_len))
        end
    end
    if ok_len and total >= len + 2 then
        local summary = d.fn(tvb, sub, len)
        if summary then sub:append_text(": " .. summary) end
    end
    return total
end

local option_table = DissectorTable.get("mip6.option")
for otype in pairs(option_names) do
    option_table:add(otype, p_opt)
end
