//! The link mesh between shards: which ordered pairs of shards get a link, the links built
//! before any shard starts, connected on each shard's own executor, and this shard's sending
//! ends.
//!
//! Invariant: shards talk only through glommio's single-producer single-consumer shared
//! channels — no locks — one per ordered pair of shards that forwarding needs and none for
//! any other pair or from a shard to itself; a link's sending end on one shard always has its
//! receiving end on the other. A link's capacity bounds what is in flight between two shards.

use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};

use super::protocol::Message;
use crate::limits::LINK_CAPACITY;

/// A shard's ends of the links, before they are connected on its executor.
pub(crate) struct Links {
    outgoing: Vec<Option<SharedSender<Message>>>,
    incoming: Vec<Option<SharedReceiver<Message>>>,
}

/// A shard's links, connected.
pub(crate) struct ConnectedLinks {
    pub(super) senders: Senders,
    /// By origin shard; `None` where that shard has no link to this one.
    pub(super) receivers: Vec<Option<ConnectedReceiver<Message>>>,
}

/// A shard's sending ends, by target shard; `None` where it has no link to that shard.
pub(super) struct Senders(Vec<Option<ConnectedSender<Message>>>);

impl Senders {
    /// How many shards the server has (linked or not).
    pub(super) fn shards(&self) -> usize {
        self.0.len()
    }

    /// Sends `message` to `target`, waiting for room in the link; `false` when there is no
    /// link to `target` or it closed (its shard stopped).
    pub(super) async fn send(&self, target: usize, message: Message) -> bool {
        match self.0.get(target).and_then(Option::as_ref) {
            Some(sender) => sender.send(message).await.is_ok(),
            None => false,
        }
    }
}

/// The links forwarding needs, given each application's hosting shards: a shard that hosts
/// none of an application's replicas sends calls to the shards that do, and they answer back;
/// the hosts of an application placed on some shards only also send each other the calls
/// their own replica has no turn for (spill-over, see `dispatch::place`). One link each way
/// for such a pair, none for any other (every link adds work to both shards' reactors on
/// every turn). Element `i` is shard `i`'s ends.
pub(crate) fn build_links(shards: usize, hosts: &[Vec<usize>]) -> Vec<Links> {
    let mut links: Vec<Links> = (0..shards)
        .map(|_| Links {
            outgoing: (0..shards).map(|_| None).collect(),
            incoming: (0..shards).map(|_| None).collect(),
        })
        .collect();
    let forwards = |from: usize, to: usize| {
        hosts.iter().any(|hosts| {
            hosts.contains(&to) && (!hosts.contains(&from) || spills_over(hosts.len(), shards))
        })
    };
    for from in 0..shards {
        for to in 0..shards {
            if from != to && (forwards(from, to) || forwards(to, from)) {
                let (sender, receiver) = shared_channel::new_bounded(LINK_CAPACITY);
                links[from].outgoing[to] = Some(sender);
                links[to].incoming[from] = Some(receiver);
            }
        }
    }
    debug_assert!(
        is_mesh(&links),
        "every link has both ends, none joins a shard to itself"
    );
    links
}

/// Whether each sending end has its receiving end on the other shard, and no shard is linked
/// to itself.
fn is_mesh(links: &[Links]) -> bool {
    links.iter().enumerate().all(|(from, ends)| {
        ends.outgoing.len() == links.len()
            && ends.incoming.len() == links.len()
            && ends.outgoing[from].is_none()
            && ends.incoming[from].is_none()
            && ends
                .outgoing
                .iter()
                .enumerate()
                .all(|(to, sender)| sender.is_some() == links[to].incoming[from].is_some())
    })
}

/// Whether the hosts of an application with `replicas` replicas on `shards` shards send each
/// other the calls they have no turn for. Not when every shard hosts one (the default): each
/// shard then serves its own connections, and no link is built just in case.
pub(crate) fn spills_over(replicas: usize, shards: usize) -> bool {
    (2..shards).contains(&replicas)
}

/// Connects this shard's links on its own executor. Every shard does so at start, before
/// it builds its replicas (a connection waits for its peer, and glommio polls a waiting
/// connection on every turn: waiting through a slow replica build would spin).
pub(super) async fn connect(links: Links) -> ConnectedLinks {
    let shards = links.outgoing.len();
    let senders = connecting(links.outgoing, SharedSender::connect);
    let receivers = connecting(links.incoming, SharedReceiver::connect);
    // Connected concurrently: each waits for its peer, which connects its own in turn.
    let mut connected = ConnectedLinks {
        senders: Senders(Vec::with_capacity(senders.len())),
        receivers: Vec::with_capacity(receivers.len()),
    };
    for sender in senders {
        connected.senders.0.push(sender.await);
    }
    for receiver in receivers {
        connected.receivers.push(receiver.await);
    }
    debug_assert_eq!(connected.senders.shards(), shards);
    debug_assert_eq!(connected.receivers.len(), shards);
    connected
}

/// One task per link end, connecting it (a missing end stays missing).
fn connecting<End, Connected, Connect, Fut>(
    ends: Vec<Option<End>>,
    connect: Connect,
) -> Vec<glommio::Task<Option<Connected>>>
where
    End: 'static,
    Connected: 'static,
    Connect: Fn(End) -> Fut + Copy + 'static,
    Fut: std::future::Future<Output = Connected> + 'static,
{
    ends.into_iter()
        .map(|end| {
            glommio::spawn_local(async move {
                match end {
                    Some(end) => Some(connect(end).await),
                    None => None,
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linked(links: &[Links]) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for (from, ends) in links.iter().enumerate() {
            for (to, sender) in ends.outgoing.iter().enumerate() {
                if sender.is_some() {
                    assert!(links[to].incoming[from].is_some());
                    pairs.push((from, to));
                }
            }
        }
        pairs
    }

    #[test]
    fn links_join_only_shards_that_forward_to_each_other() {
        // One app on shard 0 of 3, one on every shard: 1 and 2 call 0, 0 answers them.
        let links = build_links(3, &[vec![0], vec![0, 1, 2]]);
        assert_eq!(linked(&links), [(0, 1), (0, 2), (1, 0), (2, 0)]);
        // Replicas everywhere: nothing to link.
        assert!(linked(&build_links(3, &[vec![0, 1, 2]])).is_empty());
        // Two replicas of three shards: the hosts spill over to each other, too.
        assert_eq!(
            linked(&build_links(3, &[vec![1, 2]])),
            [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
        );
    }
}
