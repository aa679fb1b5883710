//! The gateway as an MCP server: listing, calls, and for clients that
//! declare the tasks extension, tasks that wait for the person.

use super::config::Mode;
use super::{ToolGateway, refused};
use crate::domain::text::visible;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, CreateTaskResult,
    ErrorData, GetTaskParams, GetTaskResult, Implementation, InitializeResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, UpdateTaskParams,
};
use rmcp::service::RequestContext;
use rmcp::task_manager::{TaskExit, TaskOptions};
use rmcp::{RoleServer, ServerHandler};
use std::sync::Arc;

impl ServerHandler for ToolGateway {
    fn get_info(&self) -> InitializeResult {
        let me = &self.inner;
        let mut text = "Tools behind countersign, a human approval gate: a gated call is held until a person approves exactly that call; call it again with the same arguments to continue. Only approved arguments are ever forwarded.".to_owned();
        if !me.upstreams.down.is_empty() {
            text.push_str(&format!(" Unavailable: {}.", me.upstreams.down.join("; ")));
        }
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tasks()
            .build();
        let mut info = InitializeResult::new(capabilities).with_instructions(text);
        info.server_info = Implementation::new("countersign-gateway", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.inner
                .exposed
                .iter()
                .map(|e| e.listed.clone())
                .collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let client = context
            .peer
            .peer_info()
            .map(|i| {
                format!(
                    " ({} {})",
                    visible(&i.client_info.name),
                    visible(&i.client_info.version)
                )
            })
            .unwrap_or_default();
        let args = request.arguments.unwrap_or_default();
        let gate = match self.inner.connect.gateway(&context) {
            Ok(g) => g,
            Err(m) => return Ok(refused(m).into()),
        };
        let gated = self
            .inner
            .exposed
            .iter()
            .any(|e| e.name == request.name && e.mode == Mode::Gate);
        let tasks = context
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks());
        if gated && tasks {
            let inner = self.inner.clone();
            let name = request.name.to_string();
            let task = self.tasks.spawn(
                TaskOptions::new()
                    .with_ttl_ms(Some(TASK_TTL_MS))
                    .with_poll_interval_ms(2_000)
                    .with_status_message(
                        "held for approval: a person must approve this exact call",
                    ),
                move |ctx| {
                    Box::pin(async move {
                        loop {
                            let r = inner
                                .call(gate.as_ref(), &name, args.clone(), &client)
                                .await;
                            if !is_held(&r) {
                                return Ok(r);
                            }
                            if ctx.is_cancel_requested() {
                                return Err(TaskExit::Cancelled);
                            }
                            let id = r
                                .structured_content
                                .as_ref()
                                .and_then(|s| s["proposal_id"].as_str())
                                .unwrap_or("")
                                .to_owned();
                            ctx.set_status_message(format!(
                                "held for approval: proposal {id} waits for a person"
                            ));
                        }
                    })
                },
            );
            return Ok(CallToolResponse::Task(CreateTaskResult::new(task)));
        }
        Ok(self
            .inner
            .call(gate.as_ref(), &request.name, args, &client)
            .await
            .into())
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        self.tasks
            .get_task(&request.task_id)
            .map(GetTaskResult::new)
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.tasks
            .update_task(&request.task_id, request.input_responses)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.tasks.cancel_task(&request.task_id)
    }
}

/// How long a task's outcome is kept: as long as a proposal may wait.
const TASK_TTL_MS: u64 = 30 * 24 * 3600 * 1000;

/// A HELD answer: the call waits for a person.
fn is_held(r: &CallToolResult) -> bool {
    r.structured_content
        .as_ref()
        .is_some_and(|s| s["held"] == true)
}

/// Serves the gateway over stdio until the agent hangs up.
pub async fn serve_stdio(gateway: ToolGateway) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let running = Arc::new(gateway)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("MCP over stdio: {e}"))?;
    running.waiting().await?;
    Ok(())
}
