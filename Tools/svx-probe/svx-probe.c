/*
 * svx-probe: calls svx.rpc.v1.Health/Check on one svx service and exits 0 when it answers SERVING,
 * 1 otherwise, printing one line either way. Written in C with protobuf-c and libzmq on purpose: it
 * proves in every test run that a non-Swift client speaks the svx wire format, and it is small
 * enough to sit in a container health check.
 *
 * usage: svx-probe [--timeout-ms N] [--server-key-file PATH] ENDPOINT
 *        e.g. svx-probe --server-key-file .svx/stack/keys/auth.pub tcp://127.0.0.1:7101
 *
 * With --server-key-file (the service's CURVE public key, 40 Z85 characters, as `make up` writes it), the probe
 * speaks CURVE with a throwaway keypair of its own; without it, plain TCP (a service run with SVX_TRANSPORT=plaintext).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "svx/rpc/v1/health.pb-c.h"
#include "svx/rpc/v1/rpc.pb-c.h"

static const char *kMethod = "svx.rpc.v1.Health/Check";

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t random_id(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
}

/* The first 40 non-space characters of the file at `path` into `key` (41 bytes, NUL-terminated): 0, else -1. */
static int read_z85_key(const char *path, char key[41]) {
    FILE *file = fopen(path, "r");
    if (file == NULL) return -1;
    size_t n = 0;
    int c;
    while ((c = fgetc(file)) != EOF && n < 41) {
        if (isspace(c)) {
            if (n > 0) break;
            continue;
        }
        key[n++] = (char)c;
    }
    fclose(file);
    if (n != 40) return -1;
    key[40] = '\0';
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: svx-probe [--timeout-ms N] [--server-key-file PATH] ENDPOINT\n");
    return 2;
}

int main(int argc, char **argv) {
    long timeout_ms = 2000;
    const char *endpoint = NULL;
    const char *server_key_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            char *end = NULL;
            timeout_ms = strtol(argv[++i], &end, 10);
            if (end == NULL || *end != '\0' || timeout_ms <= 0 || timeout_ms > 600000) return usage();
        } else if (strcmp(argv[i], "--server-key-file") == 0 && i + 1 < argc) {
            server_key_file = argv[++i];
        } else if (argv[i][0] == '-') {
            return usage();
        } else if (endpoint == NULL) {
            endpoint = argv[i];
        } else {
            return usage();
        }
    }
    if (endpoint == NULL) return usage();
    char server_key[41];
    if (server_key_file != NULL && read_z85_key(server_key_file, server_key) != 0) {
        printf("%s BAD_KEY %s is not a CURVE public key (40 Z85 characters)\n", endpoint, server_key_file);
        return 1;
    }

    /* Build the request: Request{method, request_id, deadline_ms, payload = HealthCheckRequest{}}. */
    Svx__Rpc__V1__HealthCheckRequest check = SVX__RPC__V1__HEALTH_CHECK_REQUEST__INIT;
    size_t check_len = svx__rpc__v1__health_check_request__get_packed_size(&check);
    uint8_t check_buf[64];
    svx__rpc__v1__health_check_request__pack(&check, check_buf);

    Svx__Rpc__V1__Request request = SVX__RPC__V1__REQUEST__INIT;
    request.method = (char *)kMethod;
    request.request_id = random_id();
    request.deadline_ms = now_ms() + (uint64_t)timeout_ms;
    request.payload.data = check_buf;
    request.payload.len = check_len;
    size_t request_len = svx__rpc__v1__request__get_packed_size(&request);
    uint8_t *request_buf = malloc(request_len);
    if (request_buf == NULL) return 1;
    svx__rpc__v1__request__pack(&request, request_buf);

    void *context = zmq_ctx_new();
    void *socket = zmq_socket(context, ZMQ_DEALER);
    int zero = 0, one = 1;
    zmq_setsockopt(socket, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(socket, ZMQ_IMMEDIATE, &one, sizeof one);
    int status = 1;
    if (server_key_file != NULL) {
        char public_key[41], secret_key[41];
        if (zmq_curve_keypair(public_key, secret_key) != 0
            || zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, server_key, 41) != 0
            || zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, public_key, 41) != 0
            || zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, secret_key, 41) != 0) {
            printf("%s UNREACHABLE CURVE unavailable: %s\n", endpoint, zmq_strerror(zmq_errno()));
            goto done;
        }
    }
    if (zmq_connect(socket, endpoint) != 0) {
        printf("%s UNREACHABLE bad endpoint: %s\n", endpoint, zmq_strerror(zmq_errno()));
        goto done;
    }

    /* With ZMQ_IMMEDIATE the send waits until the connection exists; bound it by the timeout. */
    uint64_t start = monotonic_ms();
    int send_timeout = (int)timeout_ms;
    zmq_setsockopt(socket, ZMQ_SNDTIMEO, &send_timeout, sizeof send_timeout);
    if (zmq_send(socket, request_buf, request_len, 0) < 0) {
        printf("%s UNREACHABLE no connection within %ld ms%s\n", endpoint, timeout_ms,
               server_key_file != NULL ? " (or no CURVE handshake: is it this service's key, and does it run CURVE?)"
                                       : " (or no handshake: does the service run CURVE? then give --server-key-file)");
        goto done;
    }

    for (;;) {
        long left = timeout_ms - (long)(monotonic_ms() - start);
        if (left <= 0) {
            printf("%s TIMEOUT no answer within %ld ms\n", endpoint, timeout_ms);
            goto done;
        }
        zmq_pollitem_t item = {socket, 0, ZMQ_POLLIN, 0};
        int ready = zmq_poll(&item, 1, left);
        if (ready < 0 && zmq_errno() == EINTR) continue;
        if (ready <= 0) continue;

        zmq_msg_t message;
        zmq_msg_init(&message);
        if (zmq_msg_recv(&message, socket, 0) < 0) {
            zmq_msg_close(&message);
            continue;
        }
        Svx__Rpc__V1__Response *response = svx__rpc__v1__response__unpack(
            NULL, zmq_msg_size(&message), zmq_msg_data(&message));
        zmq_msg_close(&message);
        if (response == NULL) {
            printf("%s BAD_REPLY undecodable response\n", endpoint);
            goto done;
        }
        if (response->request_id != request.request_id) { /* not ours: keep waiting */
            svx__rpc__v1__response__free_unpacked(response, NULL);
            continue;
        }
        if (response->status != NULL && response->status->code != SVX__RPC__V1__CODE__OK) {
            printf("%s ERROR code=%d %s\n", endpoint, (int)response->status->code,
                   response->status->message ? response->status->message : "");
            svx__rpc__v1__response__free_unpacked(response, NULL);
            goto done;
        }
        Svx__Rpc__V1__HealthCheckResponse *health = svx__rpc__v1__health_check_response__unpack(
            NULL, response->payload.len, response->payload.data);
        svx__rpc__v1__response__free_unpacked(response, NULL);
        if (health == NULL) {
            printf("%s BAD_REPLY undecodable HealthCheckResponse\n", endpoint);
            goto done;
        }
        int serving = health->status == SVX__RPC__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        printf("%s %s service=%s version=%s transport=%s latency_ms=%llu\n", endpoint,
               serving ? "SERVING" : "NOT_SERVING", health->service ? health->service : "",
               health->version ? health->version : "", server_key_file != NULL ? "curve" : "plaintext",
               (unsigned long long)(monotonic_ms() - start));
        status = serving ? 0 : 1;
        svx__rpc__v1__health_check_response__free_unpacked(health, NULL);
        goto done;
    }

done:
    zmq_close(socket);
    zmq_ctx_term(context);
    free(request_buf);
    return status;
}
