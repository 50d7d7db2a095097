#ifndef CHTTPD_SHIM_H
#define CHTTPD_SHIM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>

/* MHD_start_daemon is variadic and so unavailable to Swift; this wrapper hands the options over as an
   MHD_OPTION_ARRAY, which keeps every option typed on the Swift side. */
static inline struct MHD_Daemon *chttpd_start_daemon(unsigned int flags, uint16_t port,
                                                     MHD_AccessHandlerCallback handler, void *handler_cls,
                                                     const struct MHD_OptionItem *options) {
    return MHD_start_daemon(flags, port, NULL, NULL, handler, handler_cls,
                            MHD_OPTION_ARRAY, options, MHD_OPTION_END);
}

/* The port the daemon is bound to (useful with port 0). */
static inline uint16_t chttpd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

/* The connection's socket (MHD_get_connection_info is variadic), or -1. */
static inline int chttpd_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}

/* The client's address (MHD_get_connection_info is variadic), or NULL. */
static inline const struct sockaddr *chttpd_client_address(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info ? info->client_addr : NULL;
}

/* The connection's socket context, set by the MHD_OPTION_NOTIFY_CONNECTION callback (MHD_get_connection_info
   is variadic), or NULL. */
static inline void *chttpd_socket_context(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* glibc's malloc: a fixed mmap threshold (blocks at least this large are mapped on their own and
   unmapped when freed; fixing it stops glibc raising it after such frees) and the free memory at a heap's
   top above which it is given back. mallopt is not visible to Swift through Glibc. */
#ifdef __GLIBC__
/* Declared here rather than by including <malloc.h>, whose declarations clash with Glibc's module. */
extern int mallopt(int param, int value);
#endif
static inline void chttpd_configure_malloc(int mmap_threshold, int trim_threshold) {
#ifdef __GLIBC__
    mallopt(-3 /* M_MMAP_THRESHOLD */, mmap_threshold);
    mallopt(-1 /* M_TRIM_THRESHOLD */, trim_threshold);
#endif
}

#endif
