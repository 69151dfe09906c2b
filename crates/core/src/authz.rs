//! The seam through which the broker asks whether a connected client may act: the registry
//! evaluates IoT policies behind [`DeviceAuthorizer`]; the broker never imports it.

use crate::ClientInfo;

/// The IoT policy actions of the message broker (`iot-policy-actions.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IotAction {
    /// `iot:Connect` on `client/<clientId>`.
    Connect,
    /// `iot:Publish` on `topic/<topic>`.
    Publish,
    /// `iot:Subscribe` on `topicfilter/<filter>`.
    Subscribe,
    /// `iot:Receive` on `topic/<topic>`, checked at each delivery.
    Receive,
    /// `iot:RetainPublish` on `topic/<topic>`, needed besides `iot:Publish` for a retained message.
    RetainPublish,
    /// `iot:GetThingShadow` on `thing/<thing>` (or `thing/<thing>/<shadow>`), over HTTPS.
    GetThingShadow,
    /// `iot:UpdateThingShadow` on `thing/<thing>` (or `thing/<thing>/<shadow>`), over HTTPS.
    UpdateThingShadow,
    /// `iot:DeleteThingShadow` on `thing/<thing>` (or `thing/<thing>/<shadow>`), over HTTPS.
    DeleteThingShadow,
}

impl IotAction {
    /// The action as policies name it.
    pub fn name(self) -> &'static str {
        match self {
            IotAction::Connect => "iot:Connect",
            IotAction::Publish => "iot:Publish",
            IotAction::Subscribe => "iot:Subscribe",
            IotAction::Receive => "iot:Receive",
            IotAction::RetainPublish => "iot:RetainPublish",
            IotAction::GetThingShadow => "iot:GetThingShadow",
            IotAction::UpdateThingShadow => "iot:UpdateThingShadow",
            IotAction::DeleteThingShadow => "iot:DeleteThingShadow",
        }
    }

    /// The resource type of the action's ARN: `client`, `topic` or `topicfilter`.
    pub fn resource_type(self) -> &'static str {
        match self {
            IotAction::Connect => "client",
            IotAction::Subscribe => "topicfilter",
            IotAction::Publish | IotAction::Receive | IotAction::RetainPublish => "topic",
            IotAction::GetThingShadow | IotAction::UpdateThingShadow | IotAction::DeleteThingShadow => {
                "thing"
            }
        }
    }
}

/// Decides whether `client` may perform `action` on `resource` (a client id, topic or topic
/// filter, not yet an ARN).
pub trait DeviceAuthorizer: Send + Sync + 'static {
    fn authorize(&self, client: &ClientInfo, action: IotAction, resource: &str) -> bool;
}

/// Allows everything (the broker on its own, and tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl DeviceAuthorizer for AllowAll {
    fn authorize(&self, _: &ClientInfo, _: IotAction, _: &str) -> bool {
        true
    }
}
