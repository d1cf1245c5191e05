//! What tools that look below a Queue read on `BindingQueue` (bull-board's
//! Redis panel, @nestjs/bullmq's shutdown): the server's INFO, the state of
//! the connection, and handles of other queues on the same connection.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::error::IntoNapi;
use super::queue::BindingQueue;
use crate::engine::queue::Queue;

#[napi]
impl BindingQueue {
    /// The server's `INFO` text: one section, or the default sections.
    #[napi]
    pub async fn server_info(&self, section: Option<String>) -> Result<String> {
        self.queue.server_info(section.as_deref()).await.napi()
    }

    /// `ready` while the command connection is open, `end` once it was
    /// closed (ioredis' names, which tools compare against).
    #[napi]
    pub fn connection_status(&self) -> String {
        if self.queue.connection().is_closed() { "end" } else { "ready" }.to_string()
    }

    /// The handle of queue `name` under `prefix` on this connection.
    #[napi]
    pub async fn sibling(&self, prefix: String, name: String) -> Result<BindingQueue> {
        Ok(BindingQueue::on_queue(Queue::checked(self.queue.connection().clone(), &prefix, &name).napi()?))
    }
}
