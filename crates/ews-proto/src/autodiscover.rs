//! Autodiscover messages: POX, SOAP `GetUserSettings` and the v2 JSON answer.
//!
//! Spec: [Autodiscover for Exchange](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/autodiscover-for-exchange),
//! [POX Autodiscover reference](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/pox-autodiscover-web-service-reference-for-exchange),
//! [SOAP Autodiscover reference](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/soap-autodiscover-web-service-reference-for-exchange).

mod json;
mod pox;
mod soap;

pub use json::V2Response;
pub use pox::{
    PoxAccount, PoxAction, PoxError, PoxProtocol, PoxRequest, PoxResponse, PoxUser, PoxWebUrl,
    ProtocolType,
};
pub use soap::{
    AutodiscoverErrorCode, AutodiscoverServerVersion, GetUserSettingsRequest,
    GetUserSettingsResponse, UserResponse, UserSetting, UserSettingError,
};
