# The demo app of deploy/: tests/targets/usdt_requests.c, a program that serves fake
# requests and fires spanprobe_demo:request_start/request_end/request_error USDT probes.
FROM debian:12-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev systemtap-sdt-dev \
 && rm -rf /var/lib/apt/lists/*
COPY tests/targets/usdt_requests.c /src/usdt_requests.c
RUN mkdir -p /targets && gcc -O2 -g -pthread -o /targets/usdt_requests /src/usdt_requests.c

FROM debian:12-slim
COPY --from=build /targets/usdt_requests /targets/usdt_requests
CMD ["/targets/usdt_requests", "--requests", "1000000000", "--threads", "2", "--rate", "20"]
