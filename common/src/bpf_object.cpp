// See pmip/common/bpf_object.hpp.
#include "pmip/common/bpf_object.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "pmip/common/fd.hpp"

namespace pmip::bpf {

namespace {

// libbpf's messages while opening and loading, kept for the error (the
// verifier's log ends with the reason).
thread_local std::string* libbpf_log = nullptr;

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
    if (level == LIBBPF_DEBUG || !libbpf_log)
        return 0;
    char line[1024];
    const int n = std::vsnprintf(line, sizeof line, format, args);
    if (n > 0)
        libbpf_log->append(line);
    return n;
}

// The last `lines` lines of `text`, joined by ';' (one log line).
std::string last_lines(const std::string& text, std::size_t lines) {
    std::size_t end = text.size();
    while (end > 0 && text[end - 1] == '\n') --end;
    std::size_t pos = end;
    for (std::size_t i = 0; i < lines && pos > 0; ++i) {
        const std::size_t nl = text.rfind('\n', pos - 1);
        pos = nl == std::string::npos ? 0 : nl;
        if (pos == 0)
            break;
    }
    std::string out = text.substr(pos == 0 ? 0 : pos + 1, end - (pos == 0 ? 0 : pos + 1));
    for (char& c : out)
        if (c == '\n')
            c = ';';
    return out;
}

}  // namespace

void ObjectCloser::operator()(bpf_object* object) const { bpf_object__close(object); }

void route_libbpf_messages() {
    static std::once_flag once;
    std::call_once(once, [] { libbpf_set_print(libbpf_print); });
}

Expected<Object> load_embedded(const unsigned char* bytes, std::size_t size, const char* name,
                               const std::function<Status(bpf_object*)>& before_load) {
    route_libbpf_messages();
    std::string log;
    libbpf_log = &log;
    struct Restore {
        ~Restore() { libbpf_log = nullptr; }
    } restore;
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
    Object object(bpf_object__open_mem(bytes, size, &opts));
    if (!object) {
        const int code = errno;
        return Error::from_errno("eBPF object " + std::string(name) + ": open: " + last_lines(log, 3), code);
    }
    if (before_load) {
        if (Status st = before_load(object.get()); !st.ok())
            return st.error();
    }
    if (int rc = bpf_object__load(object.get()); rc != 0)
        return Error::from_errno("eBPF object " + std::string(name) + ": load (" + last_lines(log, 4) + ")", -rc);
    return object;
}

Status set_map_size(bpf_object* object, const char* map, std::uint32_t entries) {
    bpf_map* found = bpf_object__find_map_by_name(object, map);
    if (!found)
        return Error{ENOENT, std::string("eBPF object: no map ") + map};
    if (int rc = bpf_map__set_max_entries(found, entries); rc != 0)
        return Error::from_errno(std::string("eBPF object: map ") + map + " size", -rc);
    return {};
}

Expected<bool> ensure_clsact(int ifindex) {
    route_libbpf_messages();
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
    const int rc = bpf_tc_hook_create(&hook);
    if (rc == 0)
        return true;
    if (rc == -EEXIST)
        return false;
    return Error::from_errno("clsact qdisc on ifindex " + std::to_string(ifindex), -rc);
}

Status remove_clsact(int ifindex) {
    route_libbpf_messages();
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
    const int rc = bpf_tc_hook_destroy(&hook);
    if (rc == 0 || rc == -ENOENT || rc == -ENODEV || rc == -EINVAL)
        return {};
    return Error::from_errno("deleting the clsact qdisc of ifindex " + std::to_string(ifindex), -rc);
}

std::size_t remove_leftover_ingress_filters(std::uint32_t handle, std::uint32_t priority,
                                            const char* program) {
    route_libbpf_messages();
    std::size_t removed = 0;
    struct if_nameindex* links = ::if_nameindex();
    if (!links)
        return 0;
    for (struct if_nameindex* l = links; l->if_index != 0; ++l) {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(l->if_index),
                    .attach_point = BPF_TC_INGRESS);
        LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = priority);
        if (bpf_tc_query(&hook, &opts) != 0)
            continue;
        Fd prog(bpf_prog_get_fd_by_id(opts.prog_id));
        if (!prog.valid())
            continue;
        bpf_prog_info info{};
        std::uint32_t length = sizeof info;
        if (bpf_obj_get_info_by_fd(prog.get(), &info, &length) != 0 ||
            std::strncmp(info.name, program, sizeof info.name) != 0)
            continue;  // someone else's filter in the same place
        LIBBPF_OPTS(bpf_tc_opts, ours, .handle = handle, .priority = priority);
        if (bpf_tc_detach(&hook, &ours) == 0)
            ++removed;
    }
    ::if_freenameindex(links);
    return removed;
}

}  // namespace pmip::bpf
