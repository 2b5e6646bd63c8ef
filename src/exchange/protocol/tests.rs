//! Unit tests of the control protocol: every message round-trips, malformed ones are refused
//! with their kind kept, and garbage or flipped bytes never panic the decoder.

use super::*;
use proptest::prelude::*;

fn key() -> TaskKey {
    TaskKey {
        query_id: uuid::Uuid::from_bytes([7; 16]),
        stage_id: 3,
        task_number: 2,
    }
}

#[test]
fn requests_round_trip() {
    let call = PlanCall {
        headers: vec![("x-a".into(), b"1".to_vec()), ("x-b".into(), vec![0, 255])],
        task_key: key(),
        task_count: 4,
        plan: vec![1, 2, 3],
        target_worker_url: "dfshm://w1-g0-5-abc".into(),
        query_start_time_ns: 99,
    };
    match Request::decode(&Request::CoordinatorChannel(call.clone()).encode()).unwrap() {
        Request::CoordinatorChannel(decoded) => assert_eq!(decoded, call),
        other => panic!("{other:?}"),
    }
    for head in [
        Head::None,
        Head::Broadcast {
            output_partitions: 12,
        },
        Head::Repartition(vec![9; 40]),
    ] {
        let call = TaskCall {
            task_key: key(),
            start: 4,
            end: 8,
            head,
            consumer: DistributedTaskContext {
                task_index: 1,
                task_count: 3,
            },
            window: 65536,
        };
        match Request::decode(&Request::ExecuteTask(call.clone()).encode()).unwrap() {
            Request::ExecuteTask(decoded) => assert_eq!(decoded, call),
            other => panic!("{other:?}"),
        }
        assert_eq!(TaskCall::from_bytes(&call.to_bytes()).unwrap(), call);
    }
    let tasks = vec![key(), key()];
    match Request::decode(&Request::EndTasks(tasks.clone()).encode()).unwrap() {
        Request::EndTasks(decoded) => assert_eq!(decoded, tasks),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_backwards_partition_range_is_refused() {
    let request = Request::ExecuteTask(TaskCall {
        task_key: key(),
        start: 8,
        end: 4,
        head: Head::None,
        consumer: DistributedTaskContext {
            task_index: 0,
            task_count: 1,
        },
        window: 1,
    });
    assert!(Request::decode(&request.encode()).is_err());
}

#[test]
fn errors_keep_their_kind() {
    let exhausted = DataFusionError::ResourcesExhausted("need 5 MB".into());
    let wrapped = DataFusionError::Context("sorting".into(), Box::new(exhausted));
    match Reply::decode(&Reply::Failed(wrapped).encode()).unwrap() {
        Reply::Failed(DataFusionError::ResourcesExhausted(message)) => {
            assert_eq!(message, "need 5 MB")
        }
        other => panic!("{other:?}"),
    }
    let plain = DataFusionError::Plan("no such column".into());
    let text = error_from_text(&error_text(&plain)).to_string();
    assert!(text.contains("no such column"), "{text}");
}

#[test]
fn load_info_round_trips() {
    let info = LoadInfo {
        partition: 2,
        rows_ready: 10,
        per_column_bytes_ready: vec![1, 2],
        per_column_ndv_percentage: vec![0.5],
        per_column_null_percentage: vec![0.25, 0.0],
        rows_pulled_from_leaf: 7,
        reached_eos: true,
    };
    let Reply::LoadInfo(back) = Reply::decode(&Reply::LoadInfo(info).encode()).unwrap() else {
        panic!("not load info")
    };
    assert_eq!(back.per_column_bytes_ready, vec![1, 2]);
    assert_eq!(back.per_column_null_percentage, vec![0.25, 0.0]);
    assert!(back.reached_eos && back.rows_pulled_from_leaf == 7);
}

#[test]
fn a_refused_partition_says_why() {
    for refusal in [PartitionRefusal::AlreadyRead, PartitionRefusal::QueryEnded] {
        let back = Reply::decode(&Reply::Refused(refusal).encode()).unwrap();
        assert!(
            matches!(back, Reply::Refused(r) if r == refusal),
            "{back:?}"
        );
    }
    let mut unknown = Reply::Refused(PartitionRefusal::QueryEnded).encode();
    *unknown.last_mut().unwrap() = 9;
    assert!(Reply::decode(&unknown).is_err());
}

#[test]
fn accepted_carries_the_producer_pid() {
    let Reply::Accepted { pid } = Reply::decode(&Reply::Accepted { pid: 4242 }.encode()).unwrap()
    else {
        panic!("not an Accepted reply");
    };
    assert_eq!(pid, 4242);
    let mut forged = Reply::Accepted { pid: 1 }.encode();
    forged[1..9].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(Reply::decode(&forged).is_err());
}

#[test]
fn consumer_messages_round_trip_and_reject_anything_else() {
    for message in [
        ConsumerMessage::Cancel(0),
        ConsumerMessage::Cancel(u32::MAX),
        ConsumerMessage::Grant { slot: 7, total: 1 },
        ConsumerMessage::Done,
        ConsumerMessage::Grant {
            slot: 3,
            total: u64::MAX,
        },
    ] {
        assert_eq!(ConsumerMessage::decode(&message.encode()).unwrap(), message);
        let mut long = message.encode();
        long.push(0);
        assert!(ConsumerMessage::decode(&long).is_err());
        let short = message.encode();
        assert!(ConsumerMessage::decode(&short[..short.len() - 1]).is_err());
    }
    assert!(ConsumerMessage::decode(&[]).is_err());
    assert!(ConsumerMessage::decode(&[C2W_WORK_UNIT_EOS, 0, 0, 0, 0]).is_err());
}

proptest! {
    /// Whatever arrives on a socket, decoding answers an error or a message, never a panic (and
    /// never a huge allocation from a forged count).
    #[test]
    fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Request::decode(&bytes);
        let _ = Reply::decode(&bytes);
        let _ = ConsumerMessage::decode(&bytes);
    }

    /// A valid message with one byte changed decodes or fails cleanly.
    #[test]
    fn a_flipped_byte_never_panics(index in 0usize..200, value in any::<u8>()) {
        let request = Request::CoordinatorChannel(PlanCall {
            headers: vec![("x".into(), b"y".to_vec())],
            task_key: key(),
            task_count: 2,
            plan: vec![5; 64],
            target_worker_url: "dfshm://w0".into(),
            query_start_time_ns: 1,
        });
        let mut bytes = request.encode();
        let at = index % bytes.len();
        bytes[at] = value;
        let _ = Request::decode(&bytes);
    }
}
