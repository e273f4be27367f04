// A module that loads kafkajs before the preload through a multi-line import: the load-order
// guard (tests/layout_test.ts) must see it, as a line-by-line reading of imports would not.
import { Kafka } from "kafkajs";
import "../../lib/kafka/patches/preload.ts";

export const client: Kafka = new Kafka({ brokers: ["127.0.0.1:9092"] });
