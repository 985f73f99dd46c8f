//! Reading a service's spec as raw JSON, for the one part bollard's model cannot read: the
//! container health check. The Engine's JSON calls it `Healthcheck`; bollard's model, generated from the
//! Engine's API description, expects `HealthCheck`, so an inspected spec comes back without
//! it, and an update built on that spec would silently drop the service's health check
//! (the image's own check, or none, then applies). So a spec to be sent back is read here,
//! once, as raw JSON over the same local socket bollard uses, and the health check put
//! into bollard's model by hand. Writing needs no help: the Engine matches JSON keys
//! without regard to case.

use bollard::models::{HealthConfig, ServiceSpec};

/// What a service name or id keeps unencoded in the API's path: letters, digits, `-_.`.
const SERVICE_NAME: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

/// Why the health check could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error(transparent)]
    Api(#[from] super::api::ApiError),
    #[error("the Engine answered {0} to GET /services/{1}")]
    Status(u16, String),
    #[error("unexpected service JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The health check in a service inspection (`Spec.TaskTemplate.ContainerSpec.Healthcheck`).
pub fn from_service_json(json: &serde_json::Value) -> Result<Option<HealthConfig>, RawError> {
    match json.pointer("/Spec/TaskTemplate/ContainerSpec/Healthcheck") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => Ok(Some(serde_json::from_value(v.clone())?)),
    }
}

/// The service's spec, health check included, and the version to update it at.
pub async fn inspect(service: &str) -> Result<(ServiceSpec, u64), RawError> {
    let (spec, version, _) = inspect_json(service).await?;
    Ok((spec, version))
}

/// The service's JSON as the engine answers `GET /services/NAME` (name or id).
pub async fn service_json(service: &str) -> Result<serde_json::Value, RawError> {
    let name = percent_encoding::utf8_percent_encode(service, SERVICE_NAME);
    let (status, body) = super::api::call(
        &super::api::EngineAt::local(),
        hyper::Method::GET,
        &format!("/services/{name}"),
        None,
    )
    .await?;
    if status != 200 {
        return Err(RawError::Status(status, service.to_string()));
    }
    Ok(serde_json::from_slice(&body)?)
}

/// [`inspect`], and the service's JSON as the engine answered it.
pub async fn inspect_json(
    service: &str,
) -> Result<(ServiceSpec, u64, serde_json::Value), RawError> {
    let json = service_json(service).await?;
    let version = json
        .pointer("/Version/Index")
        .and_then(serde_json::Value::as_u64);
    Ok((spec_of(&json)?, version.unwrap_or(0), json))
}

/// The spec in a service's JSON as the engine answers it (`GET /services/NAME`), with its
/// health check read as written (see [`from_service_json`]).
pub fn spec_of(json: &serde_json::Value) -> Result<ServiceSpec, RawError> {
    let mut spec: ServiceSpec = match json.get("Spec") {
        Some(v) => serde_json::from_value(v.clone())?,
        None => ServiceSpec::default(),
    };
    if let Some(c) = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
    {
        c.health_check = from_service_json(json)?;
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_keep_their_usual_characters() {
        let enc = |s| percent_encoding::utf8_percent_encode(s, SERVICE_NAME).to_string();
        assert_eq!(
            enc("crashlab-demo_appserver.1"),
            "crashlab-demo_appserver.1"
        );
        assert_eq!(enc("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn reads_the_engines_spelling_which_bollards_model_drops() {
        let json = serde_json::json!({
            "ID": "x",
            "Spec": {"TaskTemplate": {"ContainerSpec": {
                "Image": "crashlab/crashserver:latest",
                "Healthcheck": {"Test": ["NONE"]}
            }}}
        });
        let hc = from_service_json(&json).unwrap().unwrap();
        assert_eq!(hc.test, Some(vec!["NONE".to_string()]));
        // The regression this module exists for: bollard's model loses the field.
        let spec: bollard::models::ServiceSpec =
            serde_json::from_value(json["Spec"].clone()).unwrap();
        let container = spec.task_template.unwrap().container_spec.unwrap();
        assert!(
            container.health_check.is_none(),
            "bollard reads Healthcheck now: this workaround can go"
        );
        let none = serde_json::json!({"Spec": {"TaskTemplate": {"ContainerSpec": {}}}});
        assert!(from_service_json(&none).unwrap().is_none());
    }
}
