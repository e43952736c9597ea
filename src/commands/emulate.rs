//! TEMPORARY SHIM
pub async fn run(
    _c: crate::emulator::EmulatorConfig,
) -> Result<(), crate::emulator::EmulatorError> {
    Ok(())
}
