/* bare-mhd: the floor for `make bench-http`. A minimal libmicrohttpd server that answers every request
 * with the same bytes, set up like compact-service's HTTP layer, so the difference measures the service's
 * own work: the same daemon flags (epoll, internal polling thread pool of THREADS, MHD_ALLOW_SUSPEND_RESUME,
 * which the service needs for SSE streams and slow routes and which makes MHD check for resumed
 * connections on every loop), the same connection timeout and default connection limits, answered on
 * the handler's second call, a response created per request (copied) with a Content-Type header.
 *
 *   bare-mhd PORT THREADS [FILE]   serves FILE's bytes (default: {"status":"ok"}\n) as application/json
 *
 * It prints "listening on PORT" and runs until SIGTERM or SIGINT. */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *body;
static size_t body_len;

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **req_cls) {
    static int seen;
    (void)cls; (void)url; (void)method; (void)version; (void)upload;
    /* Answer on the second call, as the service does: a response queued on the first call (headers
       only) makes libmicrohttpd close the connection instead of keeping it alive. */
    if (*req_cls == NULL) { *req_cls = &seen; return MHD_YES; }
    if (*upload_size != 0) { *upload_size = 0; return MHD_YES; }
    struct MHD_Response *r = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(n > 0 ? (size_t)n : 1);
    if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(1); }
    fclose(f);
    *len = (size_t)n;
    return b;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s PORT THREADS [FILE]\n", argv[0]); return 2; }
    unsigned port = (unsigned)atoi(argv[1]);
    unsigned threads = (unsigned)atoi(argv[2]);
    if (argc > 3) body = read_file(argv[3], &body_len);
    else { body = "{\"status\":\"ok\"}\n"; body_len = strlen(body); }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG
                                                | MHD_ALLOW_SUSPEND_RESUME,
                                            (uint16_t)port, NULL, NULL, handler, NULL,
                                            MHD_OPTION_THREAD_POOL_SIZE, threads,
                                            MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (d == NULL) { fprintf(stderr, "cannot listen on %u\n", port); return 1; }
    printf("listening on %u\n", port);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
