"""Writes N realistic product log events (seed 000 format) to a file: INFO and
WARN lines from the gateway and traffic manager, and every 40th event an ERROR
with a Java stack trace of 6 continuation lines."""

import random
import sys

LOGGERS = ["ThrottleHandler", "APIKeyValidator", "WKABasedMembershipScheme",
           "CarbonCoreActivator", "DataPublisher", "JMSListener", "PassThroughHttpSender"]
MESSAGES = ["Request handled for API pizzashack/1.0.0 tenant acme.com in {} ms",
            "Throttle decision received for key acme.com:pizzashack:gold count={}",
            "Member joined [10.0.{}.12:4000]",
            "Published {} events to tcp://tm-1:9612 and tcp://tm-2:9613"]
TRACE = ("java.lang.IllegalStateException: connection to traffic manager lost after {} ms\n"
         "\tat org.wso2.carbon.apimgt.gateway.throttling.ThrottleDataPublisher.publish(ThrottleDataPublisher.java:118)\n"
         "\tat org.wso2.carbon.apimgt.gateway.handlers.throttling.ThrottleHandler.doThrottle(ThrottleHandler.java:371)\n"
         "\tat org.apache.synapse.rest.API.process(API.java:338)\n"
         "\tat org.apache.synapse.core.axis2.Axis2SynapseEnvironment.injectMessage(Axis2SynapseEnvironment.java:209)\n"
         "\tat java.base/java.lang.Thread.run(Thread.java:833)\n")


def main() -> None:
    path, count = sys.argv[1], int(sys.argv[2])
    rng = random.Random(42)
    with open(path, "w", encoding="utf-8") as out:
        for n in range(count):
            ms = n % 1000
            stamp = f"[2026-11-21 {10 + n // 3_600_000 % 10:02}:{n // 60_000 % 60:02}:{n // 1000 % 60:02},{ms:03}]"
            if n % 40 == 0:
                out.write(f"{stamp} ERROR - {rng.choice(LOGGERS)} Failed to publish throttle data seq={n}\n")
                out.write(TRACE.format(rng.randint(1, 9999)))
            else:
                level = "WARN" if n % 13 == 0 else "INFO"
                message = rng.choice(MESSAGES).format(rng.randint(1, 9999))
                out.write(f"{stamp}  {level} - {rng.choice(LOGGERS)} {message} seq={n}\n")


if __name__ == "__main__":
    main()
